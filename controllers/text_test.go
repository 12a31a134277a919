package controllers

import (
	"testing"
	"unicode"
)

func TestPrintable(t *testing.T) {
	got := printable("paused\x1b[2J by\u202e the\r\n\tadmin\x00\xff", 256)
	if got != "paused[2J by the admin" {
		t.Errorf("printable = %q", got)
	}
	long := printable(string(make([]byte, 10))+"ééééééééééé", 9)
	for _, r := range long {
		if !unicode.IsPrint(r) {
			t.Errorf("unprintable %U in %q", r, long)
		}
	}
	if len(long) > 9 {
		t.Errorf("%q longer than 9 bytes", long)
	}
}
