package signals

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// decodeEvent decodes an event whose text passes the strict checks.
func decodeEvent(raw []byte) (Event, error) {
	var e Event
	if len(raw) > MaxEventBytes {
		return e, fmt.Errorf("the event is longer than %d bytes", MaxEventBytes)
	}
	if !utf8.Valid(raw) {
		return e, errors.New("the event is not valid UTF-8")
	}
	if err := checkKeys(raw, eventKeys, ""); err != nil {
		return e, err
	}
	if !escapesValid(raw) {
		return e, errors.New("the event has a \\u escape of an unpaired UTF-16 surrogate, which is no character")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a sign-in event: %w", err)
	}
	return e, nil
}

// The keys of an event and of its account, exactly as they must be spelt.
var (
	eventKeys = map[string]bool{"contractor": true, "account": true, "ip": true, "time": true,
		"deviceID": true, "userAgent": true, "locale": true, "timezone": true, "provider": true}
	accountKeys = map[string]bool{"system": true, "id": true, "aliases": true}
)

// nestedKeys are the keys of the event's objects that are walked too.
func nestedKeys(key string) map[string]bool {
	switch key {
	case "account":
		return accountKeys
	case "provider":
		return providerKeys
	}
	return nil
}

// checkKeys walks the JSON object raw and fails on a key that is not in
// allowed, exactly, or that comes twice; the account and provider objects
// are walked too. prefix names the object in errors ("", "account." or
// "provider.").
func checkKeys(raw []byte, allowed map[string]bool, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	notEvent := func(err error) error { return fmt.Errorf("not a sign-in event: %w", err) }
	if tok, err := dec.Token(); err != nil {
		return notEvent(err)
	} else if tok != json.Delim('{') {
		return notEvent(fmt.Errorf("want a JSON object, not %s", describeToken(tok)))
	}
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notEvent(err)
		}
		key, _ := tok.(string) // object keys are strings
		switch {
		case !allowed[key]:
			return fmt.Errorf("json: unknown field %s (keys are case-sensitive)", quote(prefix+key))
		case seen[key]:
			return fmt.Errorf("field %s is given twice", quote(prefix+key))
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return notEvent(err)
		}
		if nested := nestedKeys(key); nested != nil && prefix == "" && len(value) > 0 && value[0] == '{' {
			if err := checkKeys(value, nested, key+"."); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return notEvent(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return notEvent(errors.New("more JSON after the event"))
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim: // only '[' can start a value that is not an object
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}

// escapesValid reports whether every \u escape in the JSON text raw
// encodes a character: encoding/json turns an unpaired surrogate into
// U+FFFD without a word. raw is valid JSON, so a backslash is always
// inside a string.
func escapesValid(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := escapeAt(raw, i-1)
		i += 4
		switch {
		case !ok || (r >= 0xDC00 && r <= 0xDFFF):
			return false
		case r >= 0xD800 && r < 0xDC00: // a high surrogate needs a low one next
			if lo, ok := escapeAt(raw, i+1); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// escapeAt reads the \uXXXX escape at raw[i:].
func escapeAt(raw []byte, i int) (rune, bool) {
	if i < 0 || i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
	return rune(n), err == nil
}
