package authz

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/mcpgate/mcpgate"
)

// listShape describes the result of a list method: the member holding the
// array, the member of each entry that names it, and its kind.
type listShape struct {
	array, key, kind string
}

var listShapes = map[string]listShape{
	"tools/list":               {"tools", "name", KindTool},
	"resources/list":           {"resources", "uri", KindResource},
	"resources/templates/list": {"resourceTemplates", "uriTemplate", KindResource},
	"prompts/list":             {"prompts", "name", KindPrompt},
}

// Filtered reports whether FilterListResult filters results of method.
func Filtered(method string) bool {
	_, ok := listShapes[method]
	return ok
}

// errNotObject is returned for a result or message that is not a JSON object.
var errNotObject = errors.New("authz: list result is not a JSON object")

// splice is a replacement of b[start:end].
type splice struct {
	start, end int
	with       []byte
}

func applySplices(b []byte, ss []splice) []byte {
	if len(ss) == 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	last := 0
	for _, s := range ss {
		out = append(out, b[last:s.start]...)
		out = append(out, s.with...)
		last = s.end
	}
	return append(out, b[last:]...)
}

// FilterListResult removes from the result of a tools/list, resources/list,
// resources/templates/list or prompts/list call the entries pr may not use,
// judged by their name, uri or uriTemplate. Every other byte of result (the
// cursor, _meta, fields it does not know) is kept as it was. Results of
// other methods, and any result under a nil policy, are returned unchanged.
//
// An entry whose name is missing or not a string is removed. The array is
// found however its key is cased and however often it repeats, so that no
// client, strict or lenient, sees an entry that was not checked.
func (p *Policy) FilterListResult(pr *mcpgate.Principal, method string, result json.RawMessage) (json.RawMessage, error) {
	shape, ok := listShapes[method]
	if p == nil || !ok {
		return result, nil
	}
	if !json.Valid(result) {
		return nil, errors.New("authz: list result is not valid JSON")
	}
	i := skipWS(result, 0)
	if result[i] != '{' {
		return nil, errNotObject
	}
	var ss []splice
	_, err := eachMember(result, i, func(m member) error {
		if _, fold := keyFold(m.key, shape.array); !fold || result[m.start] != '[' {
			return nil
		}
		kept, changed := p.filterArray(pr, shape, result[m.start:m.end])
		if changed {
			ss = append(ss, splice{m.start, m.end, kept})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applySplices(result, ss), nil
}

// filterArray returns arr without the entries pr may not use, and whether
// anything was removed.
func (p *Policy) filterArray(pr *mcpgate.Principal, shape listShape, arr []byte) ([]byte, bool) {
	var out []byte
	removed := false
	eachElement(arr, 0, func(s, e int) error {
		if !p.entryAllowed(pr, shape, arr[s:e]) {
			removed = true
			return nil
		}
		if out == nil {
			out = append(make([]byte, 0, len(arr)), '[')
		} else {
			out = append(out, ',')
		}
		out = append(out, arr[s:e]...)
		return nil
	})
	if !removed {
		return arr, false
	}
	if out == nil {
		return []byte("[]"), true
	}
	return append(out, ']'), true
}

// entryAllowed reports whether every spelling of the entry's name member is
// a string naming something pr may use.
func (p *Policy) entryAllowed(pr *mcpgate.Principal, shape listShape, entry []byte) bool {
	if len(entry) == 0 || entry[0] != '{' {
		return false
	}
	seen, allowed := false, true
	eachMember(entry, 0, func(m member) error {
		if _, fold := keyFold(m.key, shape.key); !fold {
			return nil
		}
		seen = true
		name, ok := decodeString(entry[m.start:m.end])
		if !ok || !p.Allowed(pr, shape.kind, name) {
			allowed = false
		}
		return nil
	})
	return seen && allowed
}

// FilterResponse applies FilterListResult to the result of the JSON-RPC
// response msg, which answered a call of method; it is meant for responses
// read from an upstream body or SSE event. Error responses and messages that
// are not responses are returned unchanged. msg must be a single message,
// not a batch.
func (p *Policy) FilterResponse(pr *mcpgate.Principal, method string, msg []byte) ([]byte, error) {
	if p == nil || !Filtered(method) {
		return msg, nil
	}
	if !json.Valid(msg) {
		return nil, errors.New("authz: response is not valid JSON")
	}
	i := skipWS(msg, 0)
	if msg[i] != '{' {
		return nil, errors.New("authz: response is not a single JSON-RPC message")
	}
	var ss []splice
	_, err := eachMember(msg, i, func(m member) error {
		if _, fold := keyFold(m.key, "result"); !fold || msg[m.start] != '{' {
			return nil
		}
		res, err := p.FilterListResult(pr, method, msg[m.start:m.end])
		if err != nil {
			return err
		}
		if !bytes.Equal(res, msg[m.start:m.end]) {
			ss = append(ss, splice{m.start, m.end, res})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applySplices(msg, ss), nil
}
