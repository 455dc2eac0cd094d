package builtins

import (
	"fmt"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// referenceSections are the parts of the reference that describe what the
// builtins act on rather than a builtin: process kinds, pids, gossip
// profiles, the horde's rules. Each is generated from the engine's own
// description of it. Pairs of title and Markdown body.
func referenceSections(kinds []process.KindDoc) [][2]string {
	return [][2]string{
		{"Process kinds", kindsSection(kinds)},
		{"Pids", pidsSection},
		{"Gossip profiles", profilesSection()},
		{"The horde when nodes fail and return", hordeSection},
	}
}

// kindsSection describes kinds (nil: the built-in ones).
func kindsSection(kinds []process.KindDoc) string {
	if kinds == nil {
		kinds = process.KindDocs()
	}
	var b strings.Builder
	b.WriteString("`n.spawn(kind)` and `horde.start_child(n, name, kind=...)` start these. Send them messages with " +
		"`arsenal.send_message(n, pid, message, message_type)`: a `send` or `cast` returns " +
		"`{pid, message_type, delivered}` at once; a `call` waits for the reply shown here. " +
		"`arsenal.process_info(n, pid)[\"state\"]` is the state shown.\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n- `%s` (%s; state `%s`):\n", k.Kind, k.Type, k.State)
		for _, m := range k.Messages {
			fmt.Fprintf(&b, "  - %s: %s\n", m.Message, m.Reply)
		}
	}
	return b.String()
}

const pidsSection = "A pid is a string `\"<node.incarnation.number>\"`, such as `\"<n2.1.17>\"`: process 17 of the " +
	"first incarnation of n2. The incarnation counts the node's starts (1, then 2 after `n.restart()`, ...), " +
	"as Erlang's creation number does, so a pid is never reused, even by a restarted node; a pid of an earlier " +
	"incarnation is `process_not_found` and says so. A pid written without the incarnation (`\"<n2.17>\"`) means " +
	"the incarnation running now. `pid.startswith(\"<\" + node + \".\")` tells a pid's node. A process restarted " +
	"by its supervisor gets a new pid and keeps its name. An agent started by hand numbers its incarnation " +
	"with its start time in seconds unless given `--incarnation N`.\n"

func profilesSection() string {
	var b strings.Builder
	b.WriteString("`cluster.start(profile=...)` picks the gossip timing; `clusterscript.yaml` may override a " +
		"built-in profile or add one. Each node gossips queued news every gossip interval to a few random " +
		"peers, and probes one peer every probe interval, waiting the probe timeout for an answer before " +
		"asking others to probe it. A peer that does not answer is suspect; unless it refutes within the " +
		"suspicion timeout (suspicion_mult × max(1, log10 n) × probe interval for n nodes; in a cluster of " +
		"more than suspicion_mult nodes it starts 6 times longer and shrinks as other members confirm), it " +
		"is declared failed. The figures below are computed from each profile's values for 3 nodes; " +
		"\"failure seen\" runs from a node's death until a survivor lists it down (best: probed at once; " +
		"worst: a full round of probes first, then a gossip interval). A machine too loaded to answer " +
		"probes in time stretches them. Times in a case on the virtual clock are virtual.\n\n")
	b.WriteString("| profile | gossip | probe (timeout) | suspicion | failure seen | push/pull | rejoin |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, name := range membership.ProfileNames() {
		p, err := membership.LookupProfile(name)
		if err != nil {
			continue
		}
		best, worst := p.DetectionTime(3)
		fmt.Fprintf(&b, "| `%s` | %s × %d peers | %s (%s) | %s | %s to %s | %s | %s |\n",
			name, short(p.GossipInterval), p.GossipNodes, short(p.ProbeInterval), short(p.ProbeTimeout),
			short(p.SuspicionTimeout(3)), short(best), short(worst), short(p.PushPullInterval), short(p.RejoinInterval))
	}
	test := membership.TestProfile()
	fmt.Fprintf(&b, "\n`test` (the default) is for scenarios: fast timers for a handful of nodes on one machine; "+
		"clusters of more than %d nodes stretch its timers by n/%d. `local`, `lan` and `wan` are memberlist's "+
		"presets. \"rejoin\" is how often a node retries known peers it does not see, so a cluster re-forms "+
		"after a partition of any length.\n", test.ScaleAbove, test.ScaleAbove)
	return b.String()
}

// short writes a duration without trailing zero units ("1m0s" -> "1m").
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

const hordeSection = "Every node runs the horde. A name is held by one process cluster-wide; its holder is the " +
	"older registration when two live nodes claim it.\n\n" +
	"- When a node dies (killed, or cut off until declared failed), each name it held is restarted on a " +
	"surviving member, fresh: the dead process's state is gone with it.\n" +
	"- When the node comes back (`n.restart()`), names stay where they failed over: the restarted node " +
	"starts with no children, and the processes that took over keep their pids and their state. Nothing " +
	"moves back, so nothing is stopped. New children are placed over every member, the returned node " +
	"included.\n" +
	"- When a partition heals, a name held on both sides (started on both, or restarted by one side while " +
	"the other seemed dead) keeps its older registration; the younger " +
	"process is stopped with exit reason `horde_name_conflict` (not restarted), and its node's " +
	"`arsenal.horde_supervisor` counts it in `conflicts_lost`. That is the only way a live process " +
	"loses its name.\n" +
	"- A member seen failed counts again only once it has been heard from, so a restarted node's old " +
	"claims never displace the processes that replaced them.\n"
