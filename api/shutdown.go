package api

// EndLongPolls answers every long poll of the change feed at once, with
// the changes there are (usually none, and the client's own cursor), and
// every later one without waiting: a step of a graceful shutdown, which
// would otherwise wait for each poll's whole wait (up to 5 minutes), or
// cut it off at shutdown_timeout. The clients poll again, and behind a
// balancer reach another node. Found by the cluster test: nodes of a
// rolling restart took 14–19 s to stop, held by long polls of a quiet
// department.
func (s *Server) EndLongPolls() { s.endPolls() }

// Drain makes /readyz answer 503 "draining" while every other request is
// served as before: the first step of a graceful shutdown behind a load
// balancer (shutdown_drain), which then sends new requests to other nodes
// before this one interrupts uploads and stops. Without it, a rolling
// restart answered the uploads a stopping node was given in its last
// moments with 503 server_shutdown.
func (s *Server) Drain() { s.draining.Store(true) }
