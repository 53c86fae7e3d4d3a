// upload.cjs drives the real tus-js-client (Node build) against a G-Share
// test server for api/tus's TestTusJSClient. One JSON argument says what to
// do; the outcome is one JSON line on stdout. Nothing here is G-Share
// specific but the metadata: this is what a stock page or script does.
//
//   interrupt: upload FILE in chunks of CHUNK bytes, remembering the upload
//              in URLSTORE (tus-js-client's FileUrlStorage), and die
//              (SIGKILL, no goodbye) once STOPAFTER chunks were accepted;
//   resume:    find the previous upload of FILE in URLSTORE by its
//              fingerprint, resume it, finish, and report where it went on;
//   refuse:    try an upload the server must refuse; report the status and
//              the body tus-js-client hands to onError.
'use strict'

const fs = require('fs')
const tus = require('tus-js-client')

const args = JSON.parse(process.argv[2])

function options(extra) {
  return {
    endpoint: args.endpoint,
    headers: { Authorization: 'Bearer ' + args.token },
    metadata: args.metadata,
    chunkSize: args.chunk,
    retryDelays: null,
    urlStorage: new tus.FileUrlStorage(args.urlstore),
    ...extra,
  }
}

function done(result) {
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}

function fail(err) {
  const res = err.originalResponse
  done({
    error: String(err.message || err),
    status: res ? res.getStatus() : 0,
    body: res ? res.getBody() : '',
  })
}

switch (args.mode) {
  case 'interrupt': {
    let chunks = 0
    const upload = new tus.Upload(fs.createReadStream(args.file), options({
      onChunkComplete() {
        chunks++
        if (chunks === args.stopafter) {
          // Synchronously, before tus-js-client sends the next chunk.
          fs.writeSync(1, JSON.stringify({ url: upload.url, chunks }) + '\n')
          process.kill(process.pid, 'SIGKILL')
        }
      },
      onSuccess() { done({ error: 'finished before the interruption' }) },
      onError: fail,
    }))
    upload.start()
    break
  }
  case 'resume': {
    let from = -1
    let chunks = 0
    const upload = new tus.Upload(fs.createReadStream(args.file), options({
      removeFingerprintOnSuccess: true,
      onChunkComplete(size, accepted) {
        if (from < 0) from = accepted - size
        chunks++
      },
      onSuccess() { done({ url: upload.url, from, chunks }) },
      onError: fail,
    }))
    upload.findPreviousUploads().then((previous) => {
      if (previous.length !== 1) {
        done({ error: 'previous uploads found: ' + previous.length })
        return
      }
      upload.resumeFromPreviousUpload(previous[0])
      upload.start()
    }, fail)
    break
  }
  case 'refuse': {
    const upload = new tus.Upload(fs.createReadStream(args.file), options({
      storeFingerprintForResuming: false,
      onSuccess() { done({ error: 'the server accepted it' }) },
      onError: fail,
    }))
    upload.start()
    break
  }
  default:
    done({ error: 'unknown mode ' + args.mode })
}
