package process

// KindDoc describes a built-in kind for users: what it is, the messages it
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

// KindDocs describes the built-in kinds, in the order of Kinds.
func KindDocs() []KindDoc {
	return []KindDoc{
		{Kind: KindEcho, Type: TypeGenServer, State: "{}", Messages: []MessageDoc{
			{"anything", "the message itself; a send or cast is echoed back to its sender (delivered when the sender is a pid on the same node, traced in any case)"},
		}},
		{Kind: KindCounter, Type: TypeGenServer, State: "{count}", Messages: []MessageDoc{
			{`"get" as a call`, "the count, unchanged"},
			{"anything else (a send or cast of \"get\" included)", "adds one to the count; a call answers the new count"},
		}},
		{Kind: KindKV, Type: TypeGenServer, State: "{size}", Messages: []MessageDoc{
			{`{"put": [key, value]}`, `"ok"; key is a string, value any message value`},
			{`{"get": key}`, "the value, or None when the key is absent"},
			{`{"delete": key}`, "True if the key was there (and is now removed), else False"},
			{`"keys"`, "the sorted list of keys"},
			{`"size"`, "the number of keys"},
			{"anything else", "a call fails with validation_error naming what kv accepts; a send or cast is received and dropped"},
		}},
		{Kind: KindSleeper, Type: TypeTask, State: "{}", Messages: []MessageDoc{
			{"anything", "never read: message_queue_len grows with each one, and a call times out"},
		}},
		{Kind: KindSupervisor, Type: TypeSupervisor, State: `{strategy: "one_for_one"}`, Messages: []MessageDoc{
			{`"which_children"`, "a list of its children, each {pid, name, type, restart}"},
			{`"count_children"`, "the number of children"},
			{"anything else", "a call fails with validation_error"},
		}},
	}
}
