package gateway

import (
	"strings"
)

// ModelList is an allowed_models list (SPEC 5.1): model names and
// "prefix*" patterns; empty allows every model.
type ModelList []string

// Allows reports whether model matches an entry of l (or l is empty).
func (l ModelList) Allows(model string) bool {
	if len(l) == 0 {
		return true
	}
	for _, p := range l {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(model, prefix) {
				return true
			}
		} else if p == model {
			return true
		}
	}
	return false
}

// ValidModelPattern reports whether p is a model name or a "prefix*"
// pattern: 1–256 bytes, no control characters, "*" only at the end.
func ValidModelPattern(p string) bool {
	if p == "" || len(p) > 256 || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ModelAllowed reports whether the principal may call model: the model
// must be in the key's allowed_models and in its owner's (the effective
// list is their intersection).
func (p *Principal) ModelAllowed(model string) bool {
	return p == nil || (p.KeyModels.Allows(model) && p.UserModels.Allows(model))
}

// ModelNotAllowed is the 403 answer for a model outside allowed_models.
func ModelNotAllowed(model string) *Error {
	return &Error{Kind: KindPermission, Code: "model_not_allowed", Param: "body.model",
		Message: "This credential may not use the model " + strconvQuote(model) + "."}
}

func strconvQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
