// Package authz decides what an authenticated principal may do over MCP: it
// reads JSON-RPC traffic (ParseCalls), maps each call to the scopes it
// requires under a Policy, and removes from list results the tools,
// resources and prompts the principal may not use.
//
// It works on raw JSON-RPC bytes, so the same policy protects the built-in
// server and every upstream MCP server the gateway fronts, over HTTP or
// stdio.
package authz

import (
	"encoding/json"
	"fmt"
	"strings"
)

// JSON-RPC error codes carried by ParseError.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
)

// ParseError reports a message that is not JSON (Code -32700) or not a valid
// JSON-RPC 2.0 message (Code -32600). Its Message is safe to send to the
// client.
type ParseError struct {
	Code    int
	Message string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("jsonrpc error %d: %s", e.Code, e.Message)
}

func invalid(format string, args ...any) *ParseError {
	return &ParseError{Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// Call is what authorization needs to know about one JSON-RPC message.
type Call struct {
	// Method is the JSON-RPC method; empty for a response (a client's reply
	// to a server request such as sampling/createMessage).
	Method string
	// Name is the tool name of tools/call, the URI of resources/read,
	// resources/subscribe and resources/unsubscribe, and the prompt name of
	// prompts/get; empty otherwise.
	Name string
	// ID is the raw JSON-RPC id; nil for a notification.
	ID json.RawMessage
	// Notification is true for a message with a method and no id.
	Notification bool
}

// targeted lists the methods whose params name what they act on.
var targeted = []string{"tools/call", "prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe"}

// nameParam returns the member of params that names the target of method:
// "name" or "uri", or "" if the method has no target.
func nameParam(method string) string {
	switch method {
	case "tools/call", "prompts/get":
		return "name"
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return "uri"
	}
	return ""
}

// ParseCalls reads one JSON-RPC message or a batch of them. It checks what
// authorization depends on: "jsonrpc" is "2.0", "method" is a string,
// "params" is an object when present, the id is a string or a number, and
// the target name is a string. It returns a *ParseError for anything else.
//
// Keys are matched exactly. A message that repeats one of the members above,
// or spells it in another case ("Method"), is rejected rather than guessed
// at: parsers disagree on which copy wins, and the upstream server must not
// see a different call from the one that was authorized.
func ParseCalls(body []byte) ([]Call, error) {
	return ParseBatch(body, 0)
}

// ErrBatchTooLarge is the *ParseError of a batch with more messages than
// ParseBatch allows.
var ErrBatchTooLarge = &ParseError{Code: CodeInvalidRequest, Message: "batch too large"}

// ParseBatch is ParseCalls for a body holding at most max messages (no
// bound when max <= 0). A larger batch fails with [ErrBatchTooLarge] as
// soon as its element max+1 is reached, before anything of it is kept.
func ParseBatch(body []byte, max int) ([]Call, error) {
	if !json.Valid(body) {
		return nil, &ParseError{Code: CodeParseError, Message: "parse error"}
	}
	i := skipWS(body, 0)
	switch body[i] {
	case '{':
		c, err := parseMessage(body, i)
		if err != nil {
			return nil, err
		}
		return []Call{c}, nil
	case '[':
		var calls []Call
		_, err := eachElement(body, i, func(s, _ int) error {
			if max > 0 && len(calls) == max {
				return ErrBatchTooLarge
			}
			if body[s] != '{' {
				return invalid("batch element is not an object")
			}
			c, err := parseMessage(body, s)
			if err != nil {
				return err
			}
			calls = append(calls, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(calls) == 0 {
			return nil, invalid("empty batch")
		}
		return calls, nil
	default:
		return nil, invalid("message is not an object or an array")
	}
}

// Members of a JSON-RPC message whose spelling is checked strictly.
var envelopeKeys = []string{"jsonrpc", "method", "params", "id", "result", "error"}

// strictKey decodes a raw key and returns which of names it denotes. It
// returns an error if the key equals one of names but for case.
func strictKey(raw []byte, names ...string) (string, error) {
	for _, n := range names {
		exact, folded := keyFold(raw, n)
		if exact {
			return n, nil
		}
		if folded {
			key, _ := decodeString(raw)
			return "", invalid("member %q must be spelled %q", key, n)
		}
	}
	return "", nil
}

// parseMessage parses the object starting at b[i].
func parseMessage(b []byte, i int) (Call, error) {
	var (
		c                 Call
		seen              [6]bool
		version, method   []byte
		params            member
		hasParams, hasID  bool
		hasResult, hasErr bool
	)
	_, err := eachMember(b, i, func(m member) error {
		k, err := strictKey(m.key, envelopeKeys...)
		if err != nil || k == "" {
			return err
		}
		for j, n := range envelopeKeys {
			if n == k {
				if seen[j] {
					return invalid("duplicate member %q", k)
				}
				seen[j] = true
			}
		}
		v := b[m.start:m.end]
		switch k {
		case "jsonrpc":
			version = v
		case "method":
			method = v
		case "params":
			params, hasParams = m, true
		case "id":
			c.ID, hasID = json.RawMessage(v), true
		case "result":
			hasResult = true
		case "error":
			hasErr = true
		}
		return nil
	})
	if err != nil {
		return Call{}, err
	}
	if v, ok := decodeString(version); !ok || v != "2.0" {
		return Call{}, invalid(`"jsonrpc" must be "2.0"`)
	}
	if hasID {
		switch c.ID[0] {
		case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		case 'n':
			// A null id is allowed only on an error response to a
			// message whose id could not be read.
			if method != nil || !hasErr {
				return Call{}, invalid(`"id" must be a string or a number`)
			}
		default:
			return Call{}, invalid(`"id" must be a string or a number`)
		}
	}
	if method == nil {
		// A response: exactly one of result and error, and an id.
		if hasParams || hasResult == hasErr || !hasID {
			return Call{}, invalid("message is neither a request nor a response")
		}
		return c, nil
	}
	if hasResult || hasErr {
		return Call{}, invalid("a request must not carry a result or an error")
	}
	var ok bool
	if c.Method, ok = decodeString(method); !ok {
		return Call{}, invalid(`"method" must be a string`)
	}
	c.Notification = !hasID
	if nameParam(c.Method) == "" {
		for _, m := range targeted {
			if strings.EqualFold(c.Method, m) {
				// A server that dispatched methods case-insensitively
				// would run a tool the policy never looked at.
				return Call{}, invalid("method %q must be spelled %q", c.Method, m)
			}
		}
	}
	if !hasParams || b[params.start] == 'n' { // absent or null
		return c, nil
	}
	if b[params.start] != '{' {
		return Call{}, invalid(`"params" must be an object`)
	}
	np := nameParam(c.Method)
	if np == "" {
		return c, nil
	}
	var found bool
	_, err = eachMember(b, params.start, func(m member) error {
		k, err := strictKey(m.key, np)
		if err != nil || k == "" {
			return err
		}
		if found {
			return invalid("duplicate member %q", np)
		}
		found = true
		s, ok := decodeString(b[m.start:m.end])
		if !ok {
			return invalid("%q must be a string", np)
		}
		c.Name = s
		return nil
	})
	if err != nil {
		return Call{}, err
	}
	return c, nil
}
