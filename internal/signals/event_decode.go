package signals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Decode is Parse over a stream: it reads the events one at a time, so
// it holds one event's text (at most MaxEventBytes for NDJSON; for a JSON
// array, one element) and the events parsed so far, never the whole body.
// It stops reading at the first event past limits.MaxEvents. An error
// reading r, such as *http.MaxBytesError, is returned wrapped.
func Decode(r io.Reader, now time.Time, limits Limits) ([]Valid, []Rejection, error) {
	br := bufio.NewReaderSize(r, MaxEventBytes)
	c := &collector{now: now, limits: limits}
	first, err := firstByte(br)
	switch {
	case errors.Is(err, io.EOF):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading the body: %w", err)
	case first == '[':
		err = c.array(br)
	default:
		err = c.ndjson(br)
	}
	if err != nil {
		return nil, nil, err
	}
	return c.valid, c.rejected, nil
}

// firstByte returns the body's first byte that is not white space,
// leaving it unread.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(b) {
			return b, br.UnreadByte()
		}
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// collector numbers the events and keeps the verdicts.
type collector struct {
	now      time.Time
	limits   Limits
	n        int
	valid    []Valid
	rejected []Rejection
}

// add checks the next event, or rejects it with reason when reason is set.
func (c *collector) add(raw []byte, reason string) error {
	if c.limits.MaxEvents > 0 && c.n >= c.limits.MaxEvents {
		return fmt.Errorf("%w: more than %d", ErrTooManyEvents, c.limits.MaxEvents)
	}
	i := c.n
	c.n++
	if reason == "" {
		c.verdict(i, raw)
	} else {
		c.rejected = append(c.rejected, Rejection{Index: i, Error: reason})
	}
	return nil
}

// verdict accepts or rejects the event at index i.
func (c *collector) verdict(i int, raw []byte) {
	v, err := parseOne(raw, c.now, c.limits)
	if err != nil {
		c.rejected = append(c.rejected, Rejection{Index: i, Error: err.Error()})
		return
	}
	v.Index = i
	c.valid = append(c.valid, v)
}

// array reads a JSON array one element at a time.
func (c *collector) array(br *bufio.Reader) error {
	dec := json.NewDecoder(br)
	notArray := func(err error) error { return fmt.Errorf("the body is not a JSON array of events: %w", err) }
	if _, err := dec.Token(); err != nil { // the '[' firstByte saw
		return notArray(err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return notArray(err)
		}
		if err := c.add(raw, ""); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return notArray(err)
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("%v after the closing bracket", tok)
		}
		return notArray(err)
	}
	return nil
}

// ndjson reads one event a line; blank lines are skipped, and a line
// longer than MaxEventBytes is rejected and skipped.
func (c *collector) ndjson(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			_, err = br.ReadSlice('\n')
		}
		last := errors.Is(err, io.EOF)
		if err != nil && !last {
			return fmt.Errorf("reading NDJSON: %w", err)
		}
		var addErr error
		if tooLong {
			addErr = c.add(nil, fmt.Sprintf("the event is longer than %d bytes", MaxEventBytes))
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			addErr = c.add(line, "")
		}
		if addErr != nil || last {
			return addErr
		}
	}
}
