package server

import (
	"strconv"
	"strings"
)

// Encoding is a precompressed representation that may sit next to a file:
// name+Suffix holds the same bytes compressed with Token.
type Encoding struct {
	Token  string // the Content-Encoding value
	Suffix string // the sibling file's extra extension
}

// Encodings in order of preference when the client accepts several equally.
var Encodings = []Encoding{{"br", ".br"}, {"gzip", ".gz"}}

// acceptedEncodings parses an Accept-Encoding header (RFC 9110 12.5.3) into
// the q-value of each coding; "*" stands for codings not named.
func acceptedEncodings(header string) map[string]float64 {
	q := map[string]float64{}
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		coding := strings.ToLower(strings.TrimSpace(fields[0]))
		if coding == "" {
			continue
		}
		weight := 1.0
		for _, p := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || strings.ToLower(strings.TrimSpace(k)) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0 // a malformed weight is not consent
			}
			weight = f
		}
		q[coding] = weight
	}
	return q
}

// preferredEncodings returns the encodings the client accepts, best first.
// Identity is always possible, so it is not listed.
func preferredEncodings(header string) []Encoding {
	q := acceptedEncodings(header)
	weight := func(token string) float64 {
		if w, ok := q[token]; ok {
			return w
		}
		if w, ok := q["*"]; ok {
			return w
		}
		return 0
	}
	var out []Encoding
	for _, e := range Encodings {
		if weight(e.Token) > 0 {
			out = append(out, e)
		}
	}
	// Stable sort by weight, descending; ties keep the server's preference.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && weight(out[j].Token) > weight(out[j-1].Token); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
