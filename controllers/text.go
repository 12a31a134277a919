package controllers

import (
	"strings"
	"unicode"
)

// truncate keeps a message within what a condition may hold.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// printable is a transmitter's text for a status: control and format
// characters (escape sequences, bidirectional overrides) dropped, white
// space runs as one space, cut to n bytes.
func printable(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, ""), unicode.IsSpace), " ")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(truncate(s, n), "")
}
