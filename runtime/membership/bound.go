package membership

import (
	"math"
	"time"
)

// ConvergenceBound is how long a cluster of the profile's size
// (ClusterSize, at least 3) may take to agree on its members again after
// a change: a failure probed, suspected and declared, or a healed
// partition re-formed. It adds memberlist's worst cases rather than its
// typical ones, so that a slow machine does not read as a broken cluster:
//
//   - a round of probes reaches every member (n × ProbeInterval);
//   - a suspicion runs to its longest, with no confirmations
//     (memberlist's SuspicionMaxTimeoutMult of 6 × SuspicionMult ×
//     log10(n) × ProbeInterval);
//   - the rejoin loop, trying three down peers per RejoinInterval, has
//     tried every one (n/3 + 1 intervals);
//   - one push/pull interval and ten gossip intervals spread the result.
func (p Profile) ConvergenceBound() time.Duration {
	n := max(p.ClusterSize, 3)
	scale := max(1, math.Log10(float64(n)))
	suspicion := time.Duration(6 * float64(p.SuspicionMult) * scale * float64(p.ProbeInterval))
	return time.Duration(n)*p.ProbeInterval + suspicion +
		time.Duration(n/3+1)*p.RejoinInterval + p.PushPullInterval + 10*p.GossipInterval
}
