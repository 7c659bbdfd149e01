package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.ConversationStore = (*Store)(nil)

// errTenantWide refuses a write with a tenant-wide owner: writes always
// name one end user (the router enforces it; this is the second lock).
var errTenantWide = errors.New("a tenant-wide owner cannot write")

const conversationColumns = `c.id, c.user_id, c.end_user_id, c.title, c.model, c.system_prompt, c.created_at, c.updated_at, c.last_activity_at`

const messageColumns = `m.id, m.conversation_id, m.parent_id, m.role, m.content, m.model, m.status,
	m.prompt_tokens, m.completion_tokens, m.author_id, m.created_at, m.edited_at, m.deleted_at`

// ownerFilter is the SQL condition restricting table alias a to o's rows.
// a is "" in UPDATE and DELETE statements: SQLite's RETURNING clause does
// not accept a table alias.
func ownerFilter(a string, o gateway.Owner) (string, []any) {
	if a != "" {
		a += "."
	}
	if o.AllEndUsers {
		return a + "user_id = ? AND " + a + "end_user_id <> ''", []any{o.UserID}
	}
	return a + "user_id = ? AND " + a + "end_user_id = ?", []any{o.UserID, o.EndUserID}
}

// checkOwner refuses an owner without a user, a tenant-wide owner on
// writes, and, as ErrNotFound, ids that no row can have: a NUL byte or
// invalid UTF-8 (which PostgreSQL would reject as an error, not a miss).
func checkOwner(o gateway.Owner, write bool, ids ...string) error {
	if o.UserID == "" {
		return errors.New("owner has no user id")
	}
	if write && o.AllEndUsers {
		return errTenantWide
	}
	for _, id := range ids {
		if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
			return gateway.ErrNotFound
		}
	}
	return nil
}

// Unqualified column lists for RETURNING (SQLite accepts no alias there).
const (
	conversationReturning = `id, user_id, end_user_id, title, model, system_prompt, created_at, updated_at, last_activity_at, 'owner', 0`
	messageReturning      = `id, conversation_id, parent_id, role, content, model, status,
	prompt_tokens, completion_tokens, author_id, created_at, edited_at, deleted_at`
)

func newID(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

func scanConversation(sc scanner) (gateway.Conversation, error) {
	var c gateway.Conversation
	var role string
	err := sc.Scan(&c.ID, &c.UserID, &c.EndUserID, &c.Title, &c.Model, &c.SystemPrompt, &c.CreatedAt, &c.UpdatedAt, &c.LastActivityAt, &role, &c.UnreadCount)
	c.Role = gateway.ParticipantRole(role)
	c.CreatedAt, c.UpdatedAt, c.LastActivityAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.LastActivityAt.UTC()
	return c, err
}

// scanMessage reads messageColumns. A deleted message's content is never
// returned.
func scanMessage(sc scanner) (gateway.Message, error) {
	var m gateway.Message
	var status string
	var edited, deleted sql.NullTime
	err := sc.Scan(&m.ID, &m.ConversationID, &m.ParentID, &m.Role, &m.Content, &m.Model, &status,
		&m.PromptTokens, &m.CompletionTokens, &m.AuthorID, &m.CreatedAt, &edited, &deleted)
	m.Status = gateway.MessageStatus(status)
	m.CreatedAt = m.CreatedAt.UTC()
	if edited.Valid {
		t := edited.Time.UTC()
		m.EditedAt = &t
	}
	if deleted.Valid {
		t := deleted.Time.UTC()
		m.DeletedAt = &t
		m.Content = ""
	}
	return m, err
}

// CreateConversation stores c for o with a new id and the current time.
func (s *Store) CreateConversation(ctx context.Context, o gateway.Owner, c gateway.Conversation) (gateway.Conversation, error) {
	if err := checkOwner(o, true); err != nil {
		return c, fmt.Errorf("create conversation: %w", err)
	}
	t := now()
	c.ID, c.UserID, c.EndUserID, c.Role = newID("conv_"), o.UserID, o.EndUserID, gateway.RoleOwner
	c.CreatedAt, c.UpdatedAt, c.LastActivityAt = t, t, t
	_, err := s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO conversations
		(id, user_id, end_user_id, title, model, system_prompt, created_at, updated_at, last_activity_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.UserID, c.EndUserID, c.Title, c.Model, c.SystemPrompt, t, t, t)
	return c, s.mapErr("create conversation", err)
}

// GetConversation returns o's conversation id, or ErrNotFound.
func (s *Store) GetConversation(ctx context.Context, o gateway.Owner, id string) (gateway.Conversation, error) {
	if err := checkOwner(o, false, id); err != nil {
		return gateway.Conversation{}, fmt.Errorf("get conversation: %w", err)
	}
	return s.getConversation(ctx, s.conn(ctx), o, id)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) getConversation(ctx context.Context, q queryer, o gateway.Owner, id string) (gateway.Conversation, error) {
	from, f, args := readableConversations(o)
	ucol, uargs := unreadColumn(o)
	args = append(append(append(uargs, args[0]), id), args[1:]...)
	row := q.QueryRowContext(ctx, s.q(`SELECT `+conversationColumns+`, COALESCE(pr.role, 'owner'), `+ucol+` FROM `+from+` WHERE c.id = ? AND `+f), args...)
	c, err := scanConversation(row)
	return c, s.mapErr("get conversation", err)
}

// ListConversations returns o's conversations, newest activity first
// (ties by id, descending), after the cursor.
func (s *Store) ListConversations(ctx context.Context, o gateway.Owner, after *gateway.ConversationCursor, limit int) ([]gateway.Conversation, error) {
	if err := checkOwner(o, false); err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	if after != nil {
		if err := checkOwner(o, false, after.ID); err != nil {
			return nil, fmt.Errorf("list conversations: cursor: %w", err)
		}
	}
	from, f, args := readableConversations(o)
	ucol, uargs := unreadColumn(o)
	args = append(uargs, args...)
	query := `SELECT ` + conversationColumns + `, COALESCE(pr.role, 'owner'), ` + ucol + ` FROM ` + from + ` WHERE ` + f
	if after != nil {
		t := after.LastActivityAt.UTC()
		query += ` AND (c.last_activity_at < ? OR (c.last_activity_at = ? AND c.id < ?))`
		args = append(args, t, t, after.ID)
	}
	query += ` ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?`
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), append(args, limit)...)
	if err != nil {
		return nil, s.mapErr("list conversations", err)
	}
	defer rows.Close()
	out := []gateway.Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, s.mapErr("list conversations", err)
		}
		out = append(out, c)
	}
	return out, s.mapErr("list conversations", rows.Err())
}

// UpdateConversation applies p in one statement and returns the result.
func (s *Store) UpdateConversation(ctx context.Context, o gateway.Owner, id string, p gateway.ConversationPatch) (gateway.Conversation, error) {
	if err := checkOwner(o, true, id); err != nil {
		return gateway.Conversation{}, fmt.Errorf("update conversation: %w", err)
	}
	t := now()
	set := []string{"updated_at = ?", "last_activity_at = ?"}
	args := []any{t, t}
	for _, f := range []struct {
		col string
		v   *string
	}{{"title", p.Title}, {"model", p.Model}, {"system_prompt", p.SystemPrompt}} {
		if f.v != nil {
			set = append(set, f.col+" = ?")
			args = append(args, *f.v)
		}
	}
	f, oargs := ownerFilter("", o)
	args = append(append(args, id), oargs...)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`UPDATE conversations SET `+strings.Join(set, ", ")+
		` WHERE id = ? AND `+f+` RETURNING `+conversationReturning), args...)
	c, err := scanConversation(row)
	return c, s.mapErr("update conversation", err)
}

// DeleteConversation deletes o's conversation and its messages.
func (s *Store) DeleteConversation(ctx context.Context, o gateway.Owner, id string) error {
	if err := checkOwner(o, true, id); err != nil {
		return fmt.Errorf("delete conversation: %w", err)
	}
	f, args := ownerFilter("", o)
	var got string
	err := s.conn(ctx).QueryRowContext(ctx, s.q(`DELETE FROM conversations WHERE id = ? AND `+f+` RETURNING id`),
		append([]any{id}, args...)...).Scan(&got)
	return s.mapErr("delete conversation", err)
}

// ListMessages returns the messages of o's conversation in order.
func (s *Store) ListMessages(ctx context.Context, o gateway.Owner, conversationID string) ([]gateway.Message, error) {
	if err := checkOwner(o, false, conversationID); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	if _, err := s.getConversation(ctx, s.conn(ctx), o, conversationID); err != nil {
		return nil, err
	}
	return s.listMessages(ctx, s.conn(ctx), o, conversationID)
}

// ListMessagesPage returns up to limit messages of o's conversation in
// order, after message afterID ("": from the first); ErrBadCursor when
// afterID is not a message of the conversation.
func (s *Store) ListMessagesPage(ctx context.Context, o gateway.Owner, conversationID, afterID string, limit int) ([]gateway.Message, error) {
	if err := checkOwner(o, false, conversationID); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	if _, err := s.getConversation(ctx, s.db, o, conversationID); err != nil {
		return nil, err
	}
	var after int64
	if afterID != "" {
		if checkOwner(o, false, afterID) != nil {
			return nil, fmt.Errorf("list messages: %w", gateway.ErrBadCursor)
		}
		err := s.db.QueryRowContext(ctx, s.q(`SELECT seq FROM messages WHERE id = ? AND conversation_id = ?`), afterID, conversationID).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("list messages: %w", gateway.ErrBadCursor)
		}
		if err != nil {
			return nil, s.mapErr("list messages", err)
		}
	}
	return s.queryMessages(ctx, s.db, o, conversationID, after, limit)
}

func (s *Store) listMessages(ctx context.Context, q queryer, o gateway.Owner, conversationID string) ([]gateway.Message, error) {
	return s.queryMessages(ctx, q, o, conversationID, 0, 0)
}

// queryMessages reads the messages of a conversation with seq > after,
// in order, at most limit (0: all).
func (s *Store) queryMessages(ctx context.Context, q queryer, o gateway.Owner, conversationID string, after int64, limit int) ([]gateway.Message, error) {
	f, args := messageAccess("m", o, false, false)
	query := `SELECT ` + messageColumns + ` FROM messages m WHERE m.conversation_id = ? AND m.seq > ? AND ` + f + ` ORDER BY m.seq`
	args = append([]any{conversationID, after}, args...)
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.mapErr("list messages", err)
	}
	defer rows.Close()
	out := []gateway.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, s.mapErr("list messages", err)
		}
		out = append(out, m)
	}
	return out, s.mapErr("list messages", rows.Err())
}

// StartExchange stores the user message and the pending assistant message
// in one transaction and returns the path to send to the model.
func (s *Store) StartExchange(ctx context.Context, o gateway.Owner, in gateway.NewExchange) (gateway.Exchange, error) {
	var x gateway.Exchange
	if err := checkOwner(o, true, in.ConversationID); err != nil {
		return x, fmt.Errorf("start exchange: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.getConversation(ctx, tx, o, in.ConversationID)
		if err != nil {
			return err
		}
		if c.Role == gateway.ParticipantReader {
			return gateway.ErrNotFound // readers do not post (the service answers 403 first)
		}
		parent := in.ParentID
		if parent == "" {
			err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1`), c.ID).Scan(&parent)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var path []gateway.Message
		if parent != "" {
			ancestors, err := s.ancestors(ctx, tx, o, c.ID, parent)
			if err != nil {
				return err
			}
			if len(ancestors) == 0 {
				return gateway.ErrBadParent
			}
			for _, m := range ancestors {
				if m.DeletedAt == nil && m.Status != gateway.MessagePending && m.Status != gateway.MessageError && m.Content != "" {
					path = append(path, m)
				}
			}
		}
		t := now()
		user := gateway.Message{ID: newID("msg_"), ConversationID: c.ID, ParentID: parent, Role: "user",
			AuthorID: o.UserID, Content: in.Content, Status: gateway.MessageComplete, CreatedAt: t}
		asst := gateway.Message{ID: newID("msg_"), ConversationID: c.ID, ParentID: user.ID, Role: "assistant",
			Model: in.Model, Status: gateway.MessagePending, CreatedAt: t}
		for _, m := range []gateway.Message{user, asst} {
			instance := ""
			if m.Status == gateway.MessagePending {
				instance = in.Instance
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO messages
				(id, conversation_id, user_id, end_user_id, parent_id, role, content, model, status, author_id, created_at, instance_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				m.ID, m.ConversationID, c.UserID, c.EndUserID, m.ParentID, m.Role, m.Content, m.Model, string(m.Status), m.AuthorID, t, instance); err != nil {
				return err
			}
		}
		// c was read in this transaction with o's access checked.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE conversations SET last_activity_at = ? WHERE id = ?`), t, c.ID); err != nil {
			return err
		}
		c.LastActivityAt = t
		x = gateway.Exchange{Conversation: c, User: user, Assistant: asst, Path: append(path, user)}
		return nil
	})
	if errors.Is(err, gateway.ErrBadParent) {
		return x, fmt.Errorf("start exchange: %w", err)
	}
	return x, s.mapErr("start exchange", err)
}

// maxPathDepth bounds the ancestor walk (a path is never longer than
// the conversation; this only guards the recursion).
const maxPathDepth = 1 << 20

// ancestors returns message id of conversation conversationID and its
// ancestors, oldest first, with one recursive query (only the path is
// read, not the conversation); none when id is not a message of it.
func (s *Store) ancestors(ctx context.Context, q queryer, o gateway.Owner, conversationID, id string) ([]gateway.Message, error) {
	f, args := messageAccess("m", o, false, false)
	rows, err := q.QueryContext(ctx, s.q(`WITH RECURSIVE path (id, parent_id, depth) AS (
			SELECT id, parent_id, 0 FROM messages WHERE id = ? AND conversation_id = ?
			UNION ALL
			SELECT p.id, p.parent_id, path.depth + 1 FROM messages p JOIN path ON p.id = path.parent_id
			WHERE p.conversation_id = ? AND path.depth < ?)
		SELECT `+messageColumns+` FROM path JOIN messages m ON m.id = path.id WHERE `+f+` ORDER BY path.depth DESC`),
		append([]any{id, conversationID, conversationID, maxPathDepth}, args...)...)
	if err != nil {
		return nil, s.mapErr("load message path", err)
	}
	defer rows.Close()
	var out []gateway.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, s.mapErr("load message path", err)
		}
		out = append(out, m)
	}
	return out, s.mapErr("load message path", rows.Err())
}

// FinishMessage completes a pending assistant message in one UPDATE.
func (s *Store) FinishMessage(ctx context.Context, o gateway.Owner, id string, r gateway.MessageResult) (gateway.Message, error) {
	if err := checkOwner(o, true, id); err != nil {
		return gateway.Message{}, fmt.Errorf("finish message: %w", err)
	}
	f, args := messageAccess("messages", o, false, false)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`UPDATE messages SET content = ?, status = ?, prompt_tokens = ?, completion_tokens = ?
		WHERE id = ? AND status = 'pending' AND `+f+` RETURNING `+messageReturning),
		append([]any{r.Content, string(r.Status), r.PromptTokens, r.CompletionTokens, id}, args...)...)
	m, err := scanMessage(row)
	return m, s.mapErr("finish message", err)
}

// EditMessage replaces a message's content and sets edited_at.
func (s *Store) EditMessage(ctx context.Context, o gateway.Owner, id, content string) (gateway.Message, error) {
	if err := checkOwner(o, true, id); err != nil {
		return gateway.Message{}, fmt.Errorf("edit message: %w", err)
	}
	f, args := messageAccess("messages", o, true, true)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`UPDATE messages SET content = ?, edited_at = ?
		WHERE id = ? AND deleted_at IS NULL AND `+f+` RETURNING `+messageReturning),
		append([]any{content, now(), id}, args...)...)
	m, err := scanMessage(row)
	return m, s.mapErr("edit message", err)
}

// DeleteMessage sets deleted_at unless it is set already.
func (s *Store) DeleteMessage(ctx context.Context, o gateway.Owner, id string) (gateway.Message, error) {
	if err := checkOwner(o, true, id); err != nil {
		return gateway.Message{}, fmt.Errorf("delete message: %w", err)
	}
	f, args := messageAccess("messages", o, true, true)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`UPDATE messages SET deleted_at = COALESCE(deleted_at, ?)
		WHERE id = ? AND `+f+` RETURNING `+messageReturning), append([]any{now(), id}, args...)...)
	m, err := scanMessage(row)
	return m, s.mapErr("delete message", err)
}

// RestoreMessage clears deleted_at.
func (s *Store) RestoreMessage(ctx context.Context, o gateway.Owner, id string) (gateway.Message, error) {
	if err := checkOwner(o, true, id); err != nil {
		return gateway.Message{}, fmt.Errorf("restore message: %w", err)
	}
	f, args := messageAccess("messages", o, true, true)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`UPDATE messages SET deleted_at = NULL
		WHERE id = ? AND `+f+` RETURNING `+messageReturning), append([]any{id}, args...)...)
	m, err := scanMessage(row)
	return m, s.mapErr("restore message", err)
}

// SearchTerms splits a search query into the words both engines index:
// runs of letters and digits. Everything else separates words.
func SearchTerms(q string) []string {
	return strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// SearchMessages searches o's non-deleted messages for every word of
// query, best match first. A query without words matches nothing.
func (s *Store) SearchMessages(ctx context.Context, o gateway.Owner, query string, limit int) ([]gateway.SearchHit, error) {
	if err := checkOwner(o, false); err != nil {
		return nil, fmt.Errorf("search messages: %w", err)
	}
	out := []gateway.SearchHit{}
	terms := SearchTerms(query)
	if len(terms) == 0 {
		return out, nil
	}
	access, err := s.accessTokens(ctx, o)
	if err != nil {
		return nil, err
	}
	f, args := messageAccess("m", o, false, false)
	if s.d.searchHits != nil {
		return s.searchRanked(ctx, terms, access, f, args, limit)
	}
	args = append(append(s.d.searchArgs(terms, access), args...), limit)
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(s.d.search(f)), args...)
	if err != nil {
		return nil, s.mapErr("search messages", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h gateway.SearchHit
		if err := rows.Scan(&h.ConversationID, &h.MessageID, &h.Snippet, &h.CreatedAt); err != nil {
			return nil, s.mapErr("search messages", err)
		}
		h.CreatedAt = h.CreatedAt.UTC()
		out = append(out, h)
	}
	return out, s.mapErr("search messages", rows.Err())
}

// accessTokens returns the index tokens of everything o may search: its
// own messages (or, tenant-wide, its end users'), and for a plain user the
// conversations it participates in. The SQL access filter still decides;
// the tokens let the index skip everybody else's messages.
func (s *Store) accessTokens(ctx context.Context, o gateway.Owner) ([]string, error) {
	if o.AllEndUsers {
		return []string{s.d.tenantToken(o.UserID)}, nil
	}
	out := []string{s.d.ownerToken(o.UserID, o.EndUserID)}
	if !gateway.ParticipantOf(o) {
		return out, nil
	}
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT conversation_id FROM conversation_participants WHERE user_id = ?`), o.UserID)
	if err != nil {
		return nil, s.mapErr("search messages", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.mapErr("search messages", err)
		}
		out = append(out, s.d.conversationToken(id))
	}
	return out, s.mapErr("search messages", rows.Err())
}
