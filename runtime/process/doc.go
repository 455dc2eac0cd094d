// Package process is the process runtime: every node keeps a table of lightweight processes in
// the manner of an Erlang node. A process is a goroutine with a mailbox and
// a pid that names its node, the node's incarnation and the process's
// number ("<n2.1.17>": process 17 of n2's first incarnation). Like Erlang's
// creation number, the incarnation grows with every restart of the node, so
// a pid is never reused, even by a restarted node. Each node has a root supervisor ("root_sup") and
// lists its own engine components (membership, rpc_server, state_manager,
// rejoin, health_sampler) as processes of type "system"; those are views
// of real engine goroutines, measured from their real queues and state.
//
// A kind is described by a Kind: its name, its type (gen_server, task or
// supervisor), its default restart type, the messages it answers, and an
// Init that returns the behaviour of each new process. A behaviour
// implements only what it supports:
//
//	Handler        Handle(self, Message): a gen_server's or supervisor's messages
//	Runner         Run(ctx, self): a task's whole life
//	StateReporter  State(): what process_info shows as "state"
//	Sizer          Size(): the bytes its state holds, counted in "memory"
//
// Behaviours run on their process's goroutine, one message at a time; a
// panic ends the process (reason "panic: ..."), not the node, and its
// supervisor restarts it per its restart type. Sends, receives, spawns and
// exits of every kind are traced alike. NewTable takes the kinds a node
// spawns: Builtin() and a program's own, as node.Registry collects them.
//
// Built-in kinds (Builtin): echo, counter and kv (gen_servers), sleeper (a
// task) and supervisor. KindDocs says what messages each understands and
// what it replies; the API reference is generated from it.
//
// Restart types are OTP's: permanent children are always restarted,
// transient ones only after an abnormal exit (a reason other than "normal"
// or "shutdown"), temporary ones never. A restarted child gets a new pid,
// keeps its name, and its restarts count grows.
package process

// Built-in process kinds.
const (
	KindEcho       = "echo"
	KindCounter    = "counter"
	KindKV         = "kv"
	KindDiskLog    = "disk_log"
	KindSleeper    = "sleeper"
	KindSupervisor = "supervisor"
)

// Process types, as process_list reports and filters them.
const (
	TypeSupervisor = "supervisor"
	TypeGenServer  = "gen_server"
	TypeTask       = "task"
	TypeSystem     = "system"
)

// Restart types (OTP's).
const (
	RestartPermanent = "permanent"
	RestartTransient = "transient"
	RestartTemporary = "temporary"
)

// Exit reasons with a meaning to supervisors; any other reason is abnormal.
const (
	ReasonNormal   = "normal"
	ReasonShutdown = "shutdown"
	ReasonKilled   = "killed"
)

// Message kinds of send_message.
const (
	MsgSend = "send"
	MsgCast = "cast"
	MsgCall = "call"
)

// Trace event kinds.
const (
	TraceSend    = "send"
	TraceReceive = "receive"
	TraceSpawn   = "spawn"
	TraceExit    = "exit"
)

// maxMailbox bounds a mailbox's messages, whatever their size; Limits
// bounds its bytes. A send past either fails with
// errcode.ResourceExhausted.
const maxMailbox = 1 << 20

// Limits bound what a node's processes can hold, so a runaway sender or
// spawner cannot exhaust the node (or the one OS process that hosts every
// simulated node). Reaching one fails the send or spawn with
// errcode.ResourceExhausted, naming the limit.
type Limits struct {
	// Processes bounds the processes alive at once besides the engine's
	// own (its root supervisor and system processes). A supervisor's
	// restart of a child is never refused.
	Processes int
	// MailboxBytes bounds the bytes queued in one mailbox, by the
	// estimate memory_bytes reports.
	MailboxBytes int64
	// QueuedBytes bounds the bytes queued in all of the node's mailboxes.
	QueuedBytes int64
}

// DefaultLimits are a table's limits unless SetLimits says otherwise:
// enough for 10,000 processes and more (cluster_health counts them), with
// a node's queues under 128 MiB.
func DefaultLimits() Limits {
	return Limits{Processes: 16384, MailboxBytes: 16 << 20, QueuedBytes: 128 << 20}
}

// keep this many exited processes and finished traces for inspection.
const (
	exitedKept = 512
	tracesKept = 256
)
