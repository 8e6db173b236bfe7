package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
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

// listCallsOf returns the calls of a request that holds at least one list
// request, and nil for any other request. Calls of other methods are
// returned with an empty method, so that their responses are known too: in
// an exchange with list calls, a result answering no call is withheld.
func listCallsOf(calls []authz.Call) []listCall {
	lists := false
	for i := range calls {
		lists = lists || !calls[i].Notification && isListMethod(calls[i].Method)
	}
	if !lists {
		return nil
	}
	out := make([]listCall, 0, len(calls))
	for _, c := range calls {
		if c.Method == "" || c.Notification {
			continue // a response or a notification: nothing answers it
		}
		lc := listCall{id: idKey(c.ID)}
		if isListMethod(c.Method) {
			lc.method = c.Method
		}
		out = append(out, lc)
	}
	return out
}

// hasListCall reports whether calls hold a list request.
func hasListCall(calls []listCall) bool {
	for _, c := range calls {
		if c.method != "" {
			return true
		}
	}
	return false
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
	if k, ok := numberKey(raw); ok {
		return k
	}
	// null, or an id JSON-RPC does not allow: matched by its spelling.
	return "j" + string(raw)
}

// numberKey returns a key for the JSON number raw that is the same for
// every spelling of the same value (-0, 0, 0.0, 0e5; 100, 1e2, 1000e-1)
// and differs between different values, however many digits they have. It
// reports false if raw is not a JSON number.
func numberKey(raw []byte) (string, bool) {
	i := 0
	neg := false
	if i < len(raw) && raw[i] == '-' {
		neg, i = true, i+1
	}
	// The significant digits, and the power of ten they are multiplied by.
	digits := make([]byte, 0, 24)
	exp := int64(0)
	start := i
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		digits = append(digits, raw[i])
		i++
	}
	if i == start {
		return "", false
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		start = i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			digits = append(digits, raw[i])
			exp--
			i++
		}
		if i == start {
			return "", false
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		e, err := strconv.ParseInt(string(raw[i:]), 10, 32)
		if err != nil {
			return "", false
		}
		exp += e
		i = len(raw)
	}
	if i != len(raw) {
		return "", false
	}
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return "n0", true // -0 and 0 are the same id
	}
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	k := "n"
	if neg {
		k = "n-"
	}
	return k + string(digits) + "e" + strconv.FormatInt(exp, 10), true
}

// errWithheld means a response in an exchange with list calls could not be
// matched to a call, or not be read: it may be an unfiltered list, so it is
// withheld.
var errWithheld = errors.New("proxy: upstream response answers no call of the request")

// listFilter filters the responses to a set of list calls.
type listFilter struct {
	policy Filter
	pr     *mcpgate.Principal
	calls  []listCall
	// strict withholds results that answer none of calls, and data that is
	// not JSON; calls then hold every call of the exchange. A resumed GET
	// stream knows only the session's recent list calls and is not strict.
	strict bool
	logger *slog.Logger // where withheld SSE events are logged; nil discards
}

func (f *listFilter) active() bool { return f.policy != nil && hasListCall(f.calls) }

// method returns the list method that the response with raw id answers, ""
// for another call, and false if it answers no known call.
func (f *listFilter) method(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	k := idKey(raw)
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].id == k {
			return f.calls[i].method, true
		}
	}
	return "", false
}

// message filters one JSON-RPC message or batch. It returns msg unchanged
// unless it holds a result to one of the list calls. Every message is
// parsed: a textual shortcut could be defeated by JSON escapes.
func (f *listFilter) message(msg []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(msg)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err != nil {
			if f.strict {
				return nil, errWithheld
			}
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
	if json.Unmarshal(msg, &h) != nil {
		if f.strict {
			return nil, errWithheld
		}
		return msg, nil
	}
	if h.Method != "" || len(h.Result) == 0 {
		return msg, nil // a request, a notification or an error
	}
	m, ok := f.method(h.ID)
	if !ok && f.strict {
		return nil, errWithheld
	}
	if m == "" {
		return msg, nil
	}
	return f.policy.FilterResponse(f.pr, m, msg)
}
