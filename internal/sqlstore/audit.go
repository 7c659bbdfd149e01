package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// lockAuditChain serializes appends and pruning across instances until the
// transaction ends: a transaction-scoped advisory lock on PostgreSQL (keyed
// by the schema, so schemas of one server do not contend); SQLite
// transactions begin IMMEDIATE, so its single writer already holds it.
func (s *Store) lockAuditChain(ctx context.Context, tx *sql.Tx) error {
	if s.d.name != "postgres" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.tollgate_audit_chain'))`)
	return err
}

// AppendAudit appends recs to the chain in order (see gateway.AuditStore).
func (s *Store) AppendAudit(ctx context.Context, recs []*gateway.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAuditChain(ctx, tx); err != nil {
			return err
		}
		var seq int64
		var prev string
		if err := tx.QueryRowContext(ctx, `SELECT head_seq, head_hash FROM audit_chain WHERE id = 1`).Scan(&seq, &prev); err != nil {
			return err
		}
		for _, r := range recs {
			seq++
			r.Seq = seq
			r.ID = "aud_" + strings.ToLower(rand.Text())
			if r.At.IsZero() {
				r.At = now()
			}
			r.At = r.At.UTC().Truncate(time.Microsecond)
			if len(r.Details) == 0 {
				r.Details = []byte("{}")
			}
			r.PrevHash = prev
			r.Hash = gateway.AuditHash(prev, r)
			var tt, tid string
			if r.Target != nil {
				tt, tid = r.Target.Type, r.Target.ID
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_log
				(seq, id, at, actor_type, actor_id, action, target_type, target_id, outcome, ip, user_agent, request_id, details, prev_hash, hash)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				r.Seq, r.ID, r.At, r.Actor.Type, r.Actor.ID, r.Action, tt, tid, r.Outcome,
				r.IP, r.UserAgent, r.RequestID, string(r.Details), r.PrevHash, r.Hash); err != nil {
				return err
			}
			prev = r.Hash
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE id = 1`), seq, prev)
		return err
	})
	return s.mapErr("append audit", err)
}

const auditColumns = `seq, id, at, actor_type, actor_id, action, target_type, target_id, outcome, ip, user_agent, request_id, details, prev_hash, hash`

func scanAudit(sc scanner) (gateway.AuditRecord, error) {
	var r gateway.AuditRecord
	var tt, tid, details string
	err := sc.Scan(&r.Seq, &r.ID, &r.At, &r.Actor.Type, &r.Actor.ID, &r.Action, &tt, &tid, &r.Outcome,
		&r.IP, &r.UserAgent, &r.RequestID, &details, &r.PrevHash, &r.Hash)
	if err != nil {
		return r, err
	}
	r.At = r.At.UTC()
	if tt != "" || tid != "" {
		r.Target = &gateway.AuditRef{Type: tt, ID: tid}
	}
	r.Details = []byte(details)
	return r, nil
}

// ListAudit returns the records matching f, newest first, at most f.Limit
// (default 50).
func (s *Store) ListAudit(ctx context.Context, f gateway.AuditFilter) ([]gateway.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.TargetID != "" {
		add("target_id = ?", f.TargetID)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.From.IsZero() {
		add("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		add("at < ?", f.To.UTC())
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	if len(f.Subject) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(f.Subject)), ", ")
		cond := "(actor_id IN (" + ph + ") OR target_id IN (" + ph + "))"
		var a []any
		for range 2 {
			for _, id := range f.Subject {
				a = append(a, id)
			}
		}
		add(cond, a...)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, s.mapErr("list audit", err)
	}
	defer rows.Close()
	var out []gateway.AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, s.mapErr("list audit", err)
		}
		out = append(out, r)
	}
	return out, s.mapErr("list audit", rows.Err())
}

// ScanAudit calls fn for every record with seq > after, oldest first, in
// pages of 500 (no transaction held across fn).
func (s *Store) ScanAudit(ctx context.Context, after int64, fn func(gateway.AuditRecord) error) error {
	for {
		rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT `+auditColumns+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 500`), after)
		if err != nil {
			return s.mapErr("scan audit", err)
		}
		var page []gateway.AuditRecord
		for rows.Next() {
			r, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return s.mapErr("scan audit", err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.mapErr("scan audit", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
			after = r.Seq
		}
		if len(page) < 500 {
			return nil
		}
	}
}

// VerifyAudit walks the chain from its anchor to its head and returns the
// first record that breaks it: an edited record (its hash does not match
// its content), a deleted one (a gap in seq: the missing seq and the next
// record's id), or missing newest records (the head no longer matches).
func (s *Store) VerifyAudit(ctx context.Context) (*gateway.AuditBreak, error) {
	var anchorSeq, headSeq int64
	var anchorHash, headHash string
	if err := s.conn(ctx).QueryRowContext(ctx, `SELECT anchor_seq, anchor_hash, head_seq, head_hash FROM audit_chain WHERE id = 1`).
		Scan(&anchorSeq, &anchorHash, &headSeq, &headHash); err != nil {
		return nil, s.mapErr("verify audit", err)
	}
	prevSeq, prevHash := anchorSeq, anchorHash
	var brk *gateway.AuditBreak
	errStop := errors.New("stop")
	err := s.ScanAudit(ctx, 0, func(r gateway.AuditRecord) error {
		switch {
		case r.Seq != prevSeq+1:
			brk = &gateway.AuditBreak{Seq: prevSeq + 1, ID: r.ID, Reason: fmt.Sprintf("record %d is missing (the next record is %s)", prevSeq+1, r.ID)}
		case r.PrevHash != prevHash:
			brk = &gateway.AuditBreak{Seq: r.Seq, ID: r.ID, Reason: fmt.Sprintf("record %s (seq %d) does not follow the previous record", r.ID, r.Seq)}
		case gateway.AuditHash(r.PrevHash, &r) != r.Hash:
			brk = &gateway.AuditBreak{Seq: r.Seq, ID: r.ID, Reason: fmt.Sprintf("record %s (seq %d) was altered", r.ID, r.Seq)}
		default:
			prevSeq, prevHash = r.Seq, r.Hash
			return nil
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if brk == nil && (prevSeq != headSeq || prevHash != headHash) {
		brk = &gateway.AuditBreak{Seq: prevSeq + 1, Reason: fmt.Sprintf("records %d to %d are missing (the chain's head is %d)", prevSeq+1, headSeq, headSeq)}
	}
	return brk, nil
}

// PruneAudit deletes the records older than before and moves the chain's
// anchor to the last of them, so VerifyAudit still starts from a known hash.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAuditChain(ctx, tx); err != nil {
			return err
		}
		var seq sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT MAX(seq) FROM audit_log WHERE at < ?`), before.UTC()).Scan(&seq); err != nil {
			return err
		}
		if !seq.Valid {
			return nil
		}
		var hash string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT hash FROM audit_log WHERE seq = ?`), seq.Int64).Scan(&hash); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM audit_log WHERE seq <= ?`), seq.Int64)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, s.q(`UPDATE audit_chain SET anchor_seq = ?, anchor_hash = ? WHERE id = 1`), seq.Int64, hash)
		return err
	})
	return n, s.mapErr("prune audit", err)
}
