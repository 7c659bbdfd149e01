package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
)

// BM25's usual parameters: term frequency saturation and length
// normalization.
const (
	rankK1 = 1.2
	rankB  = 0.75
)

// rankedMatch is one of the caller's matching messages: its seq and score.
type rankedMatch struct {
	seq   int64
	tf    []int // per search term
	len   int   // words
	score float64
}

// searchRanked is SearchMessages where the dialect ranks in Go
// (searchHits): it reads the caller's matches (scoped in the index, so
// their number is the caller's, not the table's), scores each with BM25's
// term-frequency and length weights over the caller's own matches
// (average length from them, every search word weighted alike: no
// document frequencies, which on SQLite cost the word's matches in the
// whole table and let other users' messages move one's ranking), keeps
// the best limit (ties: newest first) and reads their snippets.
func (s *Store) searchRanked(ctx context.Context, terms, access []string, ownerFilter string, ownerArgs []any, limit int) ([]gateway.SearchHit, error) {
	match := s.d.searchArgs(terms, access)
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(s.d.search(ownerFilter)), append(slices.Clone(match), ownerArgs...)...)
	if err != nil {
		return nil, s.mapErr("search messages", err)
	}
	var matches []rankedMatch
	total := 0
	for rows.Next() {
		var m rankedMatch
		var content string
		if err := rows.Scan(&m.seq, &content); err != nil {
			rows.Close()
			return nil, s.mapErr("search messages", err)
		}
		m.tf, m.len = termFrequencies(content, terms)
		total += m.len
		matches = append(matches, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, s.mapErr("search messages", err)
	}
	out := []gateway.SearchHit{}
	if len(matches) == 0 || limit <= 0 {
		return out, nil
	}
	avg := max(float64(total)/float64(len(matches)), 1)
	for i := range matches {
		m := &matches[i]
		norm := rankK1 * (1 - rankB + rankB*float64(m.len)/avg)
		for _, tf := range m.tf {
			f := float64(tf)
			m.score += f * (rankK1 + 1) / (f + norm)
		}
	}
	slices.SortFunc(matches, func(a, b rankedMatch) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.seq, a.seq))
	})
	matches = matches[:min(limit, len(matches))]
	args := slices.Clone(match)
	for _, m := range matches {
		args = append(args, m.seq)
	}
	hits := make(map[int64]gateway.SearchHit, len(matches))
	rows, err = s.conn(ctx).QueryContext(ctx, s.q(s.d.searchHits(len(matches))), args...)
	if err != nil {
		return nil, s.mapErr("search messages", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var h gateway.SearchHit
		if err := rows.Scan(&seq, &h.ConversationID, &h.MessageID, &h.Snippet, &h.CreatedAt); err != nil {
			return nil, s.mapErr("search messages", err)
		}
		h.CreatedAt = h.CreatedAt.UTC()
		hits[seq] = h
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr("search messages", err)
	}
	for _, m := range matches {
		if h, ok := hits[m.seq]; ok { // gone between the two reads: left out
			out = append(out, h)
		}
	}
	return out, nil
}

// termFrequencies counts how often each search term occurs among
// content's words (SearchTerms's, compared case-folded) and how many
// words it has. The index matched every term, so a term counted 0 (the
// index's unicode61 also folds diacritics) counts 1.
func termFrequencies(content string, terms []string) (tf []int, words int) {
	tf = make([]int, len(terms))
	for _, w := range SearchTerms(content) {
		words++
		for i, t := range terms {
			if strings.EqualFold(w, t) {
				tf[i]++
			}
		}
	}
	for i := range tf {
		tf[i] = max(tf[i], 1)
	}
	return tf, words
}
