package manifests

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		wantKinds []string
		wantErr   string
	}{
		{
			name:      "several documents, empty ones skipped",
			data:      "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
			wantKinds: []string{"Namespace", "ConfigMap"},
		},
		{
			name:      "JSON",
			data:      `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}`,
			wantKinds: []string{"Secret"},
		},
		{
			name:    "missing kind names the document",
			data:    "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
			wantErr: "f.yaml: document 1: apiVersion and kind are required",
		},
		{
			name:    "broken YAML names the document",
			data:    "apiVersion: v1\nkind: Namespace\n---\nkind: [unclosed\n",
			wantErr: "f.yaml: document 1:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode("f.yaml", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
			}
			if strings.Join(kinds, ",") != strings.Join(tt.wantKinds, ",") {
				t.Errorf("kinds = %v, want %v", kinds, tt.wantKinds)
			}
		})
	}
}

func TestDecodeFSReadsFilesInNameOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"20-b.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")},
		"10-a.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")},
		"notes.txt": {Data: []byte("not yaml")},
	}
	objs, err := DecodeFS(fsys, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetName() != "a" || objs[1].GetName() != "b" {
		t.Fatalf("got %d objects in the wrong order: %v", len(objs), objs)
	}
}
