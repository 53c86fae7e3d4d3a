package meta

// ChangesChannel is the PostgreSQL channel (LISTEN/NOTIFY) the nodes
// sharing a database tell each other about new changes on: the message is
// the department's id (pgkv.Store.Notifier implements Notifier).
const ChangesChannel = "gshare_changes"
