package proxy

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/mcpgate/mcpgate"
)

// listMethods are the methods whose results the Filter narrows.
func isListMethod(m string) bool {
	switch m {
	case "tools/list", "resources/list", "resources/templates/list", "prompts/list":
		return true
	}
	return false
}

// rpcHead is the part of a JSON-RPC message the proxy routes by.
type rpcHead struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
}

// eachMessage calls fn for each message of a JSON-RPC message or batch.
// It returns false if body is neither.
func eachMessage(body []byte, fn func(raw []byte, h *rpcHead)) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return false
	}
	if body[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(body, &batch) != nil {
			return false
		}
		for _, m := range batch {
			var h rpcHead
			if json.Unmarshal(m, &h) == nil {
				fn(m, &h)
			}
		}
		return true
	}
	var h rpcHead
	if json.Unmarshal(body, &h) != nil {
		return false
	}
	fn(body, &h)
	return true
}

// listCalls returns the list requests in a request body. A body that
// could spell a list method, even with JSON escapes ("tools\u002flist"), is
// parsed; others are not, which keeps tools/call cheap.
func listCalls(body []byte) []listCall {
	if !bytes.Contains(body, []byte("list")) && bytes.IndexByte(body, '\\') < 0 {
		return nil
	}
	var calls []listCall
	eachMessage(body, func(_ []byte, h *rpcHead) {
		if isListMethod(h.Method) && len(h.ID) > 0 {
			calls = append(calls, listCall{id: idKey(h.ID), method: h.Method})
		}
	})
	return calls
}

// requestID returns the id of a single request, for an error answering it;
// nil for a notification, a batch or garbage.
func requestID(body []byte) json.RawMessage {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil
	}
	var h rpcHead
	if json.Unmarshal(body, &h) != nil || len(h.ID) == 0 || string(h.ID) == "null" {
		return nil
	}
	return h.ID
}

// idKey normalises a raw JSON-RPC id so that a response's id can be matched
// with its request's, however each was spelled: strings by value, numbers
// by their numeric value.
func idKey(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return "s" + s
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return ""
}

// listFilter filters the responses to a set of list calls.
type listFilter struct {
	policy Filter
	pr     *mcpgate.Principal
	calls  []listCall
}

func (f *listFilter) active() bool { return f.policy != nil && len(f.calls) > 0 }

// method returns the list method that the response with raw id answers, or "".
func (f *listFilter) method(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	k := idKey(raw)
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].id == k {
			return f.calls[i].method
		}
	}
	return ""
}

// message filters one JSON-RPC message or batch. It returns msg unchanged
// unless it holds a result to one of the list calls. Every message is
// parsed: a textual shortcut could be defeated by JSON escapes.
func (f *listFilter) message(msg []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(msg)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err != nil {
			return msg, nil // not JSON: nothing to filter, the client will reject it
		}
		changed := false
		for i, m := range batch {
			out, err := f.one(m)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(out, m) {
				batch[i], changed = out, true
			}
		}
		if !changed {
			return msg, nil
		}
		return json.Marshal(batch)
	}
	return f.one(msg)
}

func (f *listFilter) one(msg []byte) ([]byte, error) {
	var h rpcHead
	if json.Unmarshal(msg, &h) != nil || h.Method != "" || len(h.Result) == 0 {
		return msg, nil
	}
	m := f.method(h.ID)
	if m == "" {
		return msg, nil
	}
	return f.policy.FilterResponse(f.pr, m, msg)
}
