package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// The SBOM is an SPDX 2.3 JSON document written from the Go build info
// embedded in the binary (debug/buildinfo), so it lists exactly the modules
// linked into what ships, not what go.mod happens to require. The document
// is small enough that writing it here is simpler than another dependency.

type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string            `json:"name"`
	SPDXID           string            `json:"SPDXID"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	Supplier         string            `json:"supplier,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	LicenseConcluded string            `json:"licenseConcluded"`
	LicenseDeclared  string            `json:"licenseDeclared"`
	CopyrightText    string            `json:"copyrightText"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	Comment          string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// noAssertion is SPDX's "the author of this document does not say".
const noAssertion = "NOASSERTION"

// spdxIDUnsafe matches what an SPDX identifier may not contain.
var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// sbomInputs describe the binary the SBOM is about.
type sbomInputs struct {
	binary   string // path of the built binary
	version  string // the stamped version
	revision string // the commit
	created  time.Time
	source   string // the repository URL, for the main package's download location
}

// writeSBOM reads the binary's build info and writes the SPDX document to
// path; it returns the number of packages listed.
func writeSBOM(path string, in sbomInputs) (int, error) {
	info, err := buildinfo.ReadFile(in.binary)
	if err != nil {
		return 0, fmt.Errorf("reading the build info of %s: %w", in.binary, err)
	}
	content, err := os.ReadFile(in.binary)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(content)
	doc := newSBOM(info, in, hex.EncodeToString(sum[:]))
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return 0, err
	}
	return len(doc.Packages), nil
}

// newSBOM builds the document: the binary as the described package, then the
// Go standard library and every linked module, each a dependency of it. It
// depends only on its inputs (the namespace is derived from the binary's
// hash, the time from the commit), so the same commit gives the same bytes.
func newSBOM(info *debug.BuildInfo, in sbomInputs, binarySHA256 string) spdxDocument {
	const mainID = "SPDXRef-Package-portcullis"
	location := noAssertion
	if in.source != "" && in.revision != "" {
		location = "git+" + in.source + "@" + in.revision
	}
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              "portcullis-" + in.version,
		DocumentNamespace: "https://github.com/portcullis-dev/portcullis/spdx/portcullis-" + in.version + "-" + binarySHA256,
		CreationInfo: spdxCreationInfo{
			Created:  in.created.UTC().Format(time.RFC3339),
			Creators: []string{"Organization: Portcullis", "Tool: portcullis-hack-image-" + in.version},
		},
		Packages: []spdxPackage{{
			Name:             info.Main.Path,
			SPDXID:           mainID,
			VersionInfo:      in.version,
			Supplier:         "Organization: Portcullis",
			DownloadLocation: location,
			Checksums:        []spdxChecksum{{Algorithm: "SHA256", Value: binarySHA256}},
			LicenseConcluded: "Apache-2.0",
			LicenseDeclared:  "Apache-2.0",
			CopyrightText:    noAssertion,
			PrimaryPurpose:   "APPLICATION",
			ExternalRefs:     []spdxExternalRef{purl(info.Main.Path, in.version)},
			Comment:          "The portcullis binary (" + info.Main.Path + "), built with " + info.GoVersion + ".",
		}},
		Relationships: []spdxRelationship{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: mainID}},
	}
	add := func(name, version, comment string) {
		id := "SPDXRef-Package-" + spdxIDUnsafe.ReplaceAllString(name+"-"+version, "-")
		doc.Packages = append(doc.Packages, spdxPackage{
			Name:             name,
			SPDXID:           id,
			VersionInfo:      version,
			DownloadLocation: noAssertion,
			LicenseConcluded: noAssertion,
			LicenseDeclared:  noAssertion,
			CopyrightText:    noAssertion,
			PrimaryPurpose:   "LIBRARY",
			ExternalRefs:     []spdxExternalRef{purl(name, version)},
			Comment:          comment,
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: mainID, Type: "DEPENDS_ON", Related: id})
	}
	add("stdlib", info.GoVersion, "The Go standard library and runtime.")
	for _, dep := range info.Deps {
		mod, comment := dep, ""
		if dep.Replace != nil {
			mod = dep.Replace
			comment = "Replaces " + dep.Path + " " + dep.Version + "."
		}
		if mod.Sum != "" {
			// The go.sum hash (h1:, a hash of the module's file tree), which
			// is what `go mod verify` checks; SPDX has no algorithm for it.
			comment += " go.sum " + mod.Sum
		}
		add(mod.Path, mod.Version, strings.TrimSpace(comment))
	}
	return doc
}

// purl is the package URL of a Go module (the purl "golang" type).
func purl(path, version string) spdxExternalRef {
	return spdxExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + path + "@" + version}
}
