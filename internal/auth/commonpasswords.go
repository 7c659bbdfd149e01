package auth

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

// commonPasswordsFile is the 10,000 most common passwords of 8 bytes or
// more, lower-case and sorted: from the npm package
// @zxcvbn-ts/language-common 4.1.3 (passwords.json, MIT licence, Dan
// Wheeler, Dropbox, Inc. and @zxcvbn-ts; the licence text is
// LICENSE-commonpasswords.txt beside it). Lines starting with # are
// comments.
//
//go:embed commonpasswords.txt
var commonPasswordsFile string

// commonPasswords is the list parsed once on first use; it is immutable
// data embedded in the binary, the one package-level value of this kind.
var commonPasswords = sync.OnceValue(func() []string {
	var out []string
	for _, line := range strings.Split(commonPasswordsFile, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
})

// IsCommonPassword reports whether pw, compared case-insensitively, is on
// the embedded list of common passwords.
func IsCommonPassword(pw string) bool {
	_, found := slices.BinarySearch(commonPasswords(), strings.ToLower(pw))
	return found
}
