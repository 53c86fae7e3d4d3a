// Package crypt is G-Share's encrypted object format (version 1) and its key
// hierarchy. It does no I/O beyond io.Reader; storage and metadata live
// elsewhere. This comment is the format's specification: a second
// implementation can be written from it.
//
// # Crypto summary
//
// Every document version is one object, encrypted with its own random
// 256-bit data key (DEK). The DEK is wrapped (XChaCha20-Poly1305) by its
// department's key (KEK), which is wrapped by a subkey of the master key.
// The object is a header followed by parts; each part is encrypted under a
// key derived (HKDF-SHA256) from the DEK, a random 32-byte salt chosen when
// the part is written, the header and the part number; within a part,
// 64 KiB segments are sealed with AES-256-GCM under positional nonces, and
// the very last segment of the file carries a "last" flag. The design
// follows Tink's AES-GCM-HKDF streaming AEAD and age's STREAM construction,
// and answers the attacks published against deployed cloud storage
// encryption (ePrint 2024/1616 "a broken ecosystem", 2024/546 on Nextcloud,
// 2022/959 on MEGA): nothing is decrypted without authentication, the
// format version cannot be downgraded, segments and parts cannot be
// reordered, dropped, duplicated or swapped between objects, and the key
// used for a part is never reused for different plaintext.
//
// # Keys
//
// All integers are big-endian. HKDF is HKDF-SHA256 (RFC 5869).
//
//	master key   32 random bytes, kept outside meta.db
//	subkey(p)    HKDF(secret = master, salt = empty, info = p), 32 bytes, for
//	             p in "gshare/kek-wrap/v1", "gshare/sign-wrap/v1",
//	             "gshare/backup/v1", "gshare/meta-mac/v1"
//	KEK          32 random bytes per department and key version
//	DEK          32 random bytes per object (file version or tus upload)
//
// Wrapping: wrapped = 0x01 ‖ nonce (24 random bytes) ‖
// XChaCha20-Poly1305-Seal(key = wrapping key, nonce, plaintext = key,
// aad = 0x01 ‖ context), 73 bytes for a 32-byte key. The context is a list of
// fields, each written as uint32(length) ‖ bytes:
//
//	KEK context  "gshare/kek/v1", department, uint32(KEK version)
//	DEK context  "gshare/dek/v1", file id (16 bytes), uint64(version),
//	             department, uint32(KEK version)
//
// so a wrapped key cannot be moved to another department, key version or
// object. The KEK is wrapped by subkey("gshare/kek-wrap/v1").
//
// # Object layout
//
//	object = header ‖ part 1 ‖ part 2 ‖ … ‖ part N
//
// Header, 80 bytes:
//
//	offset size field
//	0      4    magic "GSH1"
//	4      1    format version, 1
//	5      1    suite, 1 = AES-256-GCM segments
//	6      1    log2 of the segment size, 16 (64 KiB)
//	7      1    flags, 0
//	8      8    P, plaintext bytes per part
//	16     16   file id
//	32     8    version (the write sequence number, see below)
//	40     8    reserved, 0
//	48     32   tag = HMAC-SHA256(HKDF(DEK, salt = empty, info = "gshare/commit/v1"), header[0:48])
//
// A reader accepts only format version 1, suite 1, segment shift 16,
// flags 0, reserved 0, and P a multiple of 65,536 in [5 MiB, 5,118 MiB];
// anything else is rejected before any key is used (no downgrade). The tag
// commits the header to the DEK: a reader recomputes the whole 80-byte
// header from the metadata it trusts and compares with hmac.Equal.
//
// The version field holds the writer's write sequence number, unique per
// object within an instance and allocated by the metadata store when a
// write starts, not the user-visible version number: that is only known
// when the write commits (two uploads to one path may race). The pair
// (file id, version) is unique per object; the user-visible number lives in
// the version record next to the wrapped DEK.
//
// Part n (1-based) = salt (32 random bytes) ‖ sealed segments, with
//
//	part key = HKDF(secret = DEK, salt = salt, info = "gshare/part/v1" ‖ header[0:48] ‖ uint32(n))
//
// Every part but the last holds exactly P plaintext bytes; the last holds
// the remaining 1..P bytes (0 only for an empty file). A part's plaintext is
// cut into 64 KiB segments, the last one possibly shorter; segment i (from
// 0 within its part) is AES-256-GCM-Seal(part key, nonce, segment, no AAD)
// with
//
//	nonce = uint32(i) ‖ 7 zero bytes ‖ last
//
// where last is 1 only on the final segment of the whole file. An empty
// file is one part holding one empty segment with last = 1 (its ciphertext
// is just the 16-byte tag). The encoding is canonical: the final segment is
// non-empty unless the file is empty.
//
// The salts of committed parts are stored in the metadata with the
// version. A reader derives part keys from the stored salts and, where the
// salt is part of what it reads, requires it to match; so an older attempt
// of a part (same number, earlier salt) cannot be substituted, and a range
// read needs one ranged GET of exactly the segments it covers.
//
// Sizes follow from P and the plaintext length L alone: with
// S = 65,536 and T = 16, a part holding p bytes takes 32 + p + T·⌈p/S⌉
// bytes (32 + T for p = 0), so the object offset of any plaintext byte is
// arithmetic (see Layout).
//
// # Staging blobs
//
// Bytes of a resumable upload that do not fill a part yet are stored as a
// staging blob: salt ‖ sealed segments exactly as in a part, with the last
// flag on the blob's final segment, under
//
//	stage key = HKDF(secret = DEK, salt = salt, info = "gshare/stage/v1" ‖
//	            uint32(len(upload id)) ‖ upload id ‖ uint64(start) ‖ uint64(length))
//
// A fresh salt is drawn for every blob, so a retried request never reuses
// a key and nonce; the salt is also recorded in the metadata and checked.
//
// # Reader rules
//
// Work out the final segment from L and P; check the object's total size
// equals the expected ciphertext size before trusting anything; verify the
// header when reading from offset 0; open the final segment only with
// last = 1, never both ways; require end of input after it; never return a
// byte of a segment before the whole segment authenticated. Every failure
// is ErrIntegrity (and ErrUnsupported for a rejected header).
package crypt
