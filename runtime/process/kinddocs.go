package process

// KindDoc describes a kind for users: what it is, the messages it
// understands and what it replies. Messages are JSON-like values (strings,
// numbers, lists, dicts); a reply is what send_message answers for a call.
type KindDoc struct {
	Kind string `json:"kind"`
	Type string `json:"type"`
	// State is what process_info reports in "state".
	State string `json:"state"`
	// Messages lists what the kind understands, one message per entry.
	Messages []MessageDoc `json:"messages"`
}

// MessageDoc is one message a kind understands.
type MessageDoc struct {
	Message string `json:"message"`
	// Reply is what a call answers; a send or cast gets
	// {pid, message_type, delivered} from send_message whatever the kind.
	Reply string `json:"reply"`
}

// KindDocs describes the built-in kinds, in the order of Builtin.
func KindDocs() []KindDoc { return DescribeKinds(Builtin()) }

// DescribeKinds describes kinds for users, from their own descriptions.
func DescribeKinds(kinds []Kind) []KindDoc {
	out := make([]KindDoc, len(kinds))
	for i, k := range kinds {
		k = k.withDefaults()
		out[i] = KindDoc{Kind: k.Name, Type: k.Type, State: k.State, Messages: k.Messages}
	}
	return out
}
