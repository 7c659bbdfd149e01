package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jsonscan"
)

// Validator is implemented by request bodies that check themselves after
// decoding; it returns a *gateway.Error naming the field.
type Validator interface {
	Validate() error
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	writeJSONStatus(w, status, v)
	return nil
}

// ReadBody reads the whole request body, mapping an oversized body to 413
// body_too_large (the body is wrapped in http.MaxBytesReader by the server).
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// Room for the body plus the read that sees EOF: with exactly
		// ContentLength bytes free, ReadFrom would grow (allocate twice
		// the size and copy) just to learn the body has ended.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, readError(err)
	}
	return buf.Bytes(), nil
}

// readError is the answer to a request body that could not be read: 413
// body_too_large past the limit, else 400 invalid_json.
func readError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge(mbe.Limit)
	}
	return gateway.Invalid("invalid_json", "", "could not read the request body")
}

func errTooLarge(limit int64) error {
	return &gateway.Error{Kind: gateway.KindTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("request body exceeds %d bytes", limit)}
}

// RequireJSON answers 415 unless the request declares a JSON body.
func RequireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return &gateway.Error{Kind: gateway.KindUnsupportedMedia, Code: "unsupported_media_type",
		Message: "Content-Type must be application/json", Param: "headers.content-type"}
}

// DecodeJSON reads a JSON request body into dst strictly: 415 for a non-JSON
// Content-Type, 413 for an oversized body, 400 invalid_json for malformed
// JSON, nesting deeper than 128 levels or a duplicate key (keys are
// compared case-insensitively, as encoding/json matches them to fields), 400 invalid_field for an unknown field or a
// value of the wrong type, then dst.Validate() if it has one. An empty
// body decodes as {} when optional is true.
func DecodeJSON(r *http.Request, dst any, optional bool) error {
	if optional && r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return validate(dst)
	}
	if err := RequireJSON(r); err != nil {
		return err
	}
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return validate(dst)
		}
		return gateway.Invalid("invalid_json", "", "request body must be a JSON object")
	}
	// The iterative scan runs before encoding/json sees the body: nesting
	// past 128 levels, objects of over 1000 keys, and keys that encoding/json would match to one field
	// ({"role":..,"ROLE":..}) are refused at a cost linear in the body.
	if err := jsonscan.Check(body, jsonscan.Options{MaxDepth: jsonscan.MaxDepthAPI, UniqueKeys: true, MaxKeys: jsonscan.MaxKeysAPI}); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return gateway.Invalid("invalid_json", "", "request body must hold exactly one JSON value")
	}
	return validate(dst)
}

func validate(dst any) error {
	if v, ok := dst.(Validator); ok {
		return v.Validate()
	}
	return nil
}

func decodeError(err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		if ute.Field == "" {
			return gateway.Invalid("invalid_json", "", "request body must be a JSON object")
		}
		return gateway.Invalid("invalid_field", "body."+ute.Field,
			fmt.Sprintf("%s must be of type %s", ute.Field, jsonTypeName(ute.Type.Kind().String())))
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return gateway.Invalid("invalid_json", "", "request body is not valid JSON")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return gateway.Invalid("invalid_field", "body."+name, fmt.Sprintf("unknown field %q", name))
	}
	return gateway.Invalid("invalid_json", "", "request body is not valid JSON")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}

// Required returns 400 missing_field for an empty string field.
func Required(field, value string) error {
	if value == "" {
		return gateway.Invalid("missing_field", "body."+field, field+" is required")
	}
	return nil
}
