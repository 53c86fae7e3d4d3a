// Package clustertest holds the cluster test of issue 20 and nothing else:
// three gshare serve processes behind a real HAProxy (Debian's haproxy),
// their metadata on one PostgreSQL (storage/kv/pgkv/pgtest) and their
// documents in one bucket of a MinIO with erasure coding over four drives.
// Clients upload (tus and PUT), download, list and long-poll through the
// balancer while one node is killed mid-upload and every node is then
// restarted in turn; afterwards every acknowledged document's SHA-256, a
// deep gshare check and the audit log's verification must hold.
//
// It is a package of its own so that go test runs it beside the other
// packages instead of after cmd/gshare's tests, and so that the gshare
// binary it runs is built without -race (the processes are the subject,
// not the test's own few goroutines). GSHARE_CLUSTER_DURATION makes it the
// long run of make soak; without it the test takes about a minute.
// docs/cluster.md describes the topology, the HAProxy settings and what
// the test found.
package clustertest
