package history

import (
	"encoding/json"
	"maps"
	"sort"
	"sync"
	"time"
)

// DefaultLimit bounds the records one case keeps: a thousand-node
// cluster's formation alone is a million observations.
const DefaultLimit = 2_000_000

// Recorder is a case's history as it is made. The cluster's goroutines add
// to it while the scenario reads it; it keeps records in time order (a
// node's observation may reach the runner after a later action).
type Recorder struct {
	origin time.Time
	limit  int

	mu      sync.Mutex
	chunks  [][]Record // full chunks of chunkSize, then the last, filling
	n       int        // records held
	dropped int
}

// chunkSize is how many records a Recorder keeps per chunk: a history
// grows by chunks, so that a million records are never copied to grow.
const chunkSize = 4096

// at returns a pointer to the i-th record held.
func (r *Recorder) at(i int) *Record { return &r.chunks[i/chunkSize][i%chunkSize] }

// NewRecorder returns an empty history whose t counts from origin, the
// start of the case.
func NewRecorder(origin time.Time) *Recorder {
	return &Recorder{origin: origin, limit: DefaultLimit}
}

// Origin is the time t counts from.
func (r *Recorder) Origin() time.Time { return r.origin }

// Since returns the t of a time.
func (r *Recorder) Since(at time.Time) float64 { return Seconds(at.Sub(r.origin)) }

// Add records rec as of at (its T is set from at) and returns it as
// recorded: fields are kept as JSON values, so that a record reads the
// same here as from history.jsonl. Past the limit, records are counted
// and dropped.
func (r *Recorder) Add(at time.Time, rec Record) Record {
	rec.T = r.Since(at)
	rec.Fields = jsonValues(rec.Fields)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n >= r.limit {
		r.dropped++
		return rec
	}
	if r.n%chunkSize == 0 {
		r.chunks = append(r.chunks, make([]Record, 0, chunkSize))
	}
	last := &r.chunks[len(r.chunks)-1]
	*last = append(*last, rec)
	// Nearly always in order already; otherwise a short walk back.
	for i := r.n; i > 0 && r.at(i-1).T > rec.T; i-- {
		*r.at(i) = *r.at(i - 1)
		*r.at(i - 1) = rec
	}
	r.n++
	return rec
}

// Records returns a copy of every record, in time order.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, r.n)
	for _, c := range r.chunks {
		out = append(out, c...)
	}
	return out
}

// Dropped is how many records the limit turned away.
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Of returns the records of one cluster.
func Of(recs []Record, cluster string) []Record {
	var out []Record
	for _, rec := range recs {
		if rec.Cluster == cluster {
			out = append(out, rec)
		}
	}
	return out
}

// Sort orders records by time, keeping the order of equal times.
func Sort(recs []Record) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].T < recs[j].T })
}

// jsonValues returns fields holding only JSON values, so that a record
// reads the same whether it was recorded here or read back from a file.
// Only the fields that are not JSON values already are converted (a
// workload records tens of thousands of operations: converting the whole
// record each time was a good part of its cost).
func jsonValues(fields map[string]any) map[string]any {
	if len(fields) == 0 {
		return nil
	}
	var out map[string]any
	for k, v := range fields {
		if isJSONValue(v) {
			continue
		}
		if out == nil {
			out = maps.Clone(fields)
		}
		out[k] = plain(v)
	}
	if out == nil {
		return fields
	}
	return out
}

// plain is v as decoding its JSON gives it: numbers as float64, raw JSON
// decoded, anything else through a JSON round trip.
func plain(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	var b []byte
	if raw, ok := v.(json.RawMessage); ok {
		b = raw
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return map[string]any{"unencodable": err.Error()}
		}
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return map[string]any{"unencodable": err.Error()}
	}
	return out
}

func isJSONValue(v any) bool {
	switch v := v.(type) {
	case nil, string, float64, bool:
		return true
	case []any:
		for _, x := range v {
			if !isJSONValue(x) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, x := range v {
			if !isJSONValue(x) {
				return false
			}
		}
		return true
	}
	return false
}
