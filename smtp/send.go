package smtp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// errAbort stops the MIME writer when the server's replies show that the transaction
// cannot go on; the reason is in the transaction state.
var errAbort = errors.New("smtp: transaction aborted")

// plan is what one message needs from this session, worked out once per Send.
type plan struct {
	mail  []byte // the MAIL FROM command line, in the Client's line buffer
	size  int64  // the body's exact size when SIZE made us compute it, else 0
	mopts mime.Options
	rcpt  *RcptOptions // DSN parameters for every RCPT, or nil
	pipe  bool
	bdat  bool
}

// txn is the state of one transaction, kept in the Client to avoid allocating it.
type txn struct {
	rcpts    []string
	reset    bool // an RSET leads the flight
	dataCmd  bool // a DATA command ends the flight
	mailErr  error
	accepted []string
	deferred []string // refused with 452 after an acceptance: for the next transaction
	refused  []transport.RecipientError
	dataErr  error // the reply to DATA (or the first BDAT), when negative
}

// Send sends m in as few round trips as the server allows: with PIPELINING, MAIL, every
// RCPT and DATA (or the whole body in BDAT chunks) go out in one flight. Recipients the
// server refuses are reported in the Receipt and a *transport.PartialError while the
// others get the message, unless Options.AllOrNothing is set. A 452 to RCPT sends the
// remaining recipients in further transactions on this connection.
//
// The error is nil only when every recipient was accepted. An error after the end of the
// body was sent wraps transport.ErrMaybeDelivered.
func (c *Client) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if m == nil || len(m.Envelope.To) == 0 {
		return nil, invalidf("smtp: the message has no envelope recipient")
	}
	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, err
	}
	c.begin(ctx)
	defer c.end()
	return c.send(ctx, m)
}

func (c *Client) send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	c.sendReplies, c.firstCode, c.rr.heard, c.committed = 0, 0, false, false
	if err := c.tlsOK(); err != nil {
		return nil, err
	}
	p, err := c.plan(m)
	if err != nil {
		return nil, err
	}
	rec := &transport.Receipt{MessageID: m.MessageID}
	var rejected []transport.RecipientError
	var msgErr error // a failure of a whole transaction
	recipientRefusals := 0
	rcpts := m.Envelope.To
	for len(rcpts) > 0 {
		endEnv := transport.StartPhase(ctx, transport.PhaseEnvelope)
		t, reply, err := c.transaction(ctx, m, &p, rcpts, endEnv)
		recipientRefusals += len(t.refused)
		rejected = append(rejected, t.refused...)
		if err != nil {
			msgErr = err
			rejected = append(rejected, failedWith(rcpts, t, err)...)
			break
		}
		if c.cfg.AllOrNothing && len(t.refused) > 0 {
			for _, a := range t.accepted {
				rejected = append(rejected, transport.RecipientError{Recipient: a, Err: heldBack(t.refused)})
			}
			break
		}
		if len(t.accepted) > 0 {
			c.msgs++
			rec.Accepted = append(rec.Accepted, t.accepted...)
			rec.Reply = reply
			rec.ID = queueID(reply)
		}
		rcpts = t.deferred
	}
	switch {
	case len(rec.Accepted) > 0 && len(rejected) == 0:
		return rec, nil
	case len(rec.Accepted) > 0:
		rec.Rejected = rejected
		return rec, transport.NewPartialError(rejected)
	case msgErr != nil && recipientRefusals == 0:
		return nil, msgErr
	}
	return nil, transport.NewPartialError(rejected)
}

// plan checks what m needs against the extensions and builds the MAIL command.
func (c *Client) plan(m *transport.Message) (plan, error) {
	p := plan{
		mopts: mime.Options{Allow8Bit: c.cfg.Allow8Bit && c.ext.eightBit},
		pipe:  c.ext.pipelining && !c.cfg.NoPipelining,
		bdat:  c.ext.chunking && !c.cfg.NoChunking,
	}
	env := &m.Envelope
	for _, r := range env.To {
		if err := checkPath("recipient address", r); err != nil {
			return p, err
		}
	}
	mo := MailOptions{
		UTF8:       mime.NeedsSMTPUTF8(m) || !isASCII(env.From) || !allASCII(env.To),
		RequireTLS: env.RequireTLS,
	}
	mo.EightBit = mime.Needs8BitMIME(m, &p.mopts) || mo.UTF8 && c.ext.eightBit
	if _, ok := c.ext.params["SIZE"]; ok {
		n, err := mime.Size(m, &p.mopts)
		if err != nil {
			return p, bodyError(err)
		}
		mo.Size, p.size = n, n
	} else if err := mime.Validate(m, &p.mopts); err != nil {
		// Size checks as it counts; without it, check now: once the transaction's flight
		// is out, a message the renderer refuses can only be abandoned by closing the
		// connection.
		return p, bodyError(err)
	}
	if d := env.DSN; d != nil && c.ext.dsn {
		mo.Return, mo.EnvID = d.Return, d.EnvID
		if len(d.Notify) > 0 {
			p.rcpt = &RcptOptions{Notify: d.Notify}
		}
	}
	line, err := c.mailLine(env.From, &mo)
	if err != nil {
		return p, err
	}
	p.mail = line
	return p, nil
}

func allASCII(list []string) bool {
	for _, s := range list {
		if !isASCII(s) {
			return false
		}
	}
	return true
}

// transaction runs one MAIL transaction for rcpts. It returns the state (whose refused,
// accepted and deferred lists the caller folds into the receipt), the final reply, and
// an error when the transaction failed as a whole.
func (c *Client) transaction(ctx context.Context, m *transport.Message, p *plan, rcpts []string, endEnv func(error)) (*txn, *transport.Reply, error) {
	t := &c.t
	*t = txn{rcpts: rcpts}
	c.committed = false
	to := c.cfg.Timeouts
	if c.needReset {
		c.cmd("RSET")
		if p.pipe {
			t.reset = true
		} else if err := c.flushExpect("RSET", to.Command); err != nil {
			endEnv(err)
			return t, nil, err
		}
		c.needReset = false
	}
	c.cmdBytes(p.mail)
	c.needReset = true
	if !p.pipe {
		if err := c.flushExpect("MAIL", to.Mail); err != nil {
			c.needReset = false
			endEnv(err)
			return t, nil, err
		}
		for i, r := range rcpts {
			c.rcptCmd(r, p, i)
			if err := c.flush("RCPT"); err != nil {
				endEnv(err)
				return t, nil, err
			}
			if err := c.rcptReply(i); err != nil {
				endEnv(err)
				return t, nil, err
			}
		}
		endEnv(nil)
		if len(t.accepted) == 0 || c.cfg.AllOrNothing && len(t.refused) > 0 {
			return t, nil, nil
		}
		return c.body(ctx, m, p, false)
	}
	for i, r := range rcpts {
		c.rcptCmd(r, p, i)
	}
	if c.cfg.AllOrNothing {
		// The body must wait until every RCPT is known to be accepted.
		if err := c.flush("MAIL"); err != nil {
			endEnv(err)
			return t, nil, err
		}
		err := c.flightReplies()
		endEnv(err)
		if err != nil || t.mailErr != nil {
			return t, nil, firstErr(err, t.mailErr)
		}
		if len(t.accepted) == 0 || len(t.refused) > 0 {
			return t, nil, nil
		}
		return c.body(ctx, m, p, false)
	}
	if p.bdat {
		// MAIL, RCPT and the first chunk (for a message of known size up to
		// maxFlightChunk, the whole of it and BDAT 0 LAST) go out in one flight; the
		// replies are read once it is written.
		endEnv(nil)
		return c.body(ctx, m, p, true)
	}
	c.cmd("DATA")
	t.dataCmd = true
	if err := c.flush("MAIL"); err != nil {
		endEnv(err)
		return t, nil, err
	}
	err := c.flightReplies()
	endEnv(err)
	if err != nil {
		return t, nil, err
	}
	if t.mailErr != nil {
		return t, nil, t.mailErr
	}
	if len(t.accepted) == 0 {
		return t, nil, nil
	}
	if t.dataErr != nil {
		return t, nil, t.dataErr
	}
	return c.dataBody(ctx, m, p)
}

// stale reports whether the Send that just failed failed the way one fails on a
// connection the server closed before it read a command of ours (an idle limit, a
// restart), so that the message cannot have been delivered: the connection died (EOF,
// reset, broken pipe) before a byte of any reply came and before anything that could
// complete a message was written; or the Send's very first reply was a 421, the server
// closing instead of opening the transaction.
func (c *Client) stale() bool {
	if c.broken == nil {
		return false
	}
	if c.sendReplies == 1 && c.firstCode == 421 {
		return true
	}
	return c.sendReplies == 0 && !c.rr.heard && !c.committed && connGone(c.broken)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *Client) flushExpect(cmd string, d time.Duration) error {
	if err := c.flush(cmd); err != nil {
		return err
	}
	return c.expect(cmd, d, 2)
}

// rcptCmd queues the RCPT for recipient i.
func (c *Client) rcptCmd(r string, p *plan, i int) {
	if p.rcpt == nil {
		c.cmd("RCPT TO:<", r, ">")
		return
	}
	o := *p.rcpt
	o.ORcpt = r
	line, err := c.rcptLine(r, &o)
	if err != nil { // an invalid Notify value; the plan checked the address already
		line = "RCPT TO:<" + r + ">"
	}
	c.cmd(line)
}

// rcptReply reads the reply to recipient i's RCPT and files the recipient.
func (c *Client) rcptReply(i int) error {
	t := &c.t
	if err := c.read("RCPT", c.cfg.Timeouts.Rcpt); err != nil {
		return err
	}
	r := t.rcpts[i]
	if c.rr.code/100 == 2 {
		t.accepted = append(t.accepted, r)
		return nil
	}
	reply := c.rr.reply()
	if reply.Code == 421 {
		// The server is closing: the transaction is over, with nothing delivered.
		return replyError("RCPT", reply)
	}
	e := transport.ClassifyReply(reply)
	if e == nil {
		e = &transport.Error{Code: transport.Internal, Reply: reply}
	}
	e.Err = errors.New("smtp: RCPT refused")
	if e.Code == transport.ResourceExhausted && e.Temporary && len(t.accepted) > 0 && !c.cfg.AllOrNothing && c.broken == nil {
		// Too many recipients for one transaction (RFC 5321 4.5.3.1.10): send the rest
		// in another.
		t.deferred = append(t.deferred, r)
		return nil
	}
	t.refused = append(t.refused, transport.RecipientError{Recipient: r, Err: e})
	return nil
}

// flightReplies reads the replies to a pipelined flight, in the order it was written:
// RSET, MAIL, each RCPT and DATA. Only a failure to read is an error; refusals are filed
// in the transaction.
func (c *Client) flightReplies() error {
	t := &c.t
	to := c.cfg.Timeouts
	if t.reset {
		if err := c.read("RSET", to.Command); err != nil {
			return err
		}
		if c.rr.code/100 != 2 {
			// The session is in a state we do not know (or closing, 421): give it up.
			err := replyError("RSET", c.rr.reply())
			c.fail(err)
			return err
		}
	}
	if err := c.read("MAIL", to.Mail); err != nil {
		return err
	}
	if c.rr.code/100 != 2 {
		t.mailErr = replyError("MAIL", c.rr.reply())
		c.needReset = false
		if c.rr.code == 421 {
			return nil // the server is closing; no more replies come
		}
	}
	for i := range t.rcpts {
		if err := c.rcptReply(i); err != nil {
			switch {
			case t.mailErr != nil:
				return nil // the MAIL refusal is the story, whatever happened after
			case isReplyErr(err): // 421: closing, no more replies come
				t.mailErr = err
				return nil
			}
			return err
		}
	}
	if t.mailErr != nil {
		// The RCPT replies only echo the MAIL failure ("503 need MAIL").
		t.refused, t.accepted, t.deferred = nil, nil, nil
	}
	if t.dataCmd {
		if err := c.read("DATA", to.DataInit); err != nil {
			if t.mailErr != nil {
				return nil
			}
			return err
		}
		if c.rr.code == 354 && len(t.accepted) == 0 {
			// A server that opens DATA with no recipient (RFC 2920 says it must not):
			// end the empty body, which it must refuse.
			c.cmd(".")
			if err := c.flushExpect("DATA", to.DataTerm); err == nil {
				c.fail(errors.New("server accepted a message with no recipients"))
			}
			return nil
		}
		if c.rr.code != 354 {
			t.dataErr = replyError("DATA", c.rr.reply())
		}
	}
	return nil
}

// dataBody streams the body after a 354 and reads the final reply.
func (c *Client) dataBody(ctx context.Context, m *transport.Message, p *plan) (*txn, *transport.Reply, error) {
	t := &c.t
	end := transport.StartPhase(ctx, transport.PhaseBody)
	// The renderer dot-stuffs as it writes, where it knows which parts can need it
	// (base64, most of a large message, never does): c.dot need not scan the bytes.
	opts := p.mopts
	opts.DotStuff = true
	c.dot.reset(c.bw, true)
	c.bodyTimeout = c.cfg.Timeouts.DataBlock
	err := mime.Write(&c.dot, m, &opts)
	c.bodyTimeout = 0
	if err != nil {
		// The server is inside DATA: only closing the connection aborts it without
		// delivering a truncated message.
		c.fail(err)
		c.conn.Close()
		if c.dot.err != nil {
			err = ioError(c.ctx, "DATA", c.dot.err)
		} else {
			err = bodyError(err)
		}
		end(err)
		return t, nil, err
	}
	r, err := c.endData(&c.dot)
	c.needReset = false
	end(err)
	return t, r, err
}

// body sends the body of a transaction whose recipients are settled (flight false), or,
// with flight true, completes a pipelined flight with the first BDAT chunk.
func (c *Client) body(ctx context.Context, m *transport.Message, p *plan, flight bool) (*txn, *transport.Reply, error) {
	t := &c.t
	if !p.bdat {
		if err := c.roundTrip("DATA", c.cfg.Timeouts.DataInit, 354, "DATA"); err != nil {
			return t, nil, err
		}
		return c.dataBody(ctx, m, p)
	}
	if p.size > 0 {
		return c.streamBody(ctx, m, p, flight)
	}
	end := transport.StartPhase(ctx, transport.PhaseBody)
	c.prepareChunks(flight)
	err := mime.Write(&c.cw, m, &p.mopts)
	if err == nil {
		err = c.cw.close()
	}
	c.chunk = c.cw.buf[:0]
	if err != nil && c.cw.err != nil {
		err = c.cw.err // ours, however the renderer wrapped it
	}
	if errors.Is(err, errAbort) {
		// The flight's replies refused the transaction; the refusals are in t.
		end(nil)
		return t, nil, t.mailErr
	}
	if err != nil && c.broken == nil && c.outOfStep(0) {
		// The renderer failed with the flight's commands unsent in the buffer (or partly
		// sent, with many recipients), or with chunk replies unread: only a new
		// connection is sure to be in step.
		c.fail(err)
		c.conn.Close()
	}
	if err != nil {
		if c.cw.n == 0 && !flight && c.broken == nil && !isTransportErr(err) {
			// The renderer refused the message before a chunk went out.
			err = bodyError(err)
		} else if c.committed && !isReplyErr(err) {
			err = maybeDelivered(c.ctx, err)
		} else {
			err = bodyError(err)
		}
		if !c.committed || isReplyErr(err) {
			c.needReset = c.broken == nil
		}
		end(err)
		return t, c.lastReply, err
	}
	c.needReset = false
	end(nil)
	return t, c.lastReply, nil
}

// streamBody sends the body of known size p.size over BDAT without buffering it (see
// bdatStream); flight as for body.
func (c *Client) streamBody(ctx context.Context, m *transport.Message, p *plan, flight bool) (*txn, *transport.Reply, error) {
	t := &c.t
	end := transport.StartPhase(ctx, transport.PhaseBody)
	s := &c.bs
	s.reset(c, p.size, flight)
	c.flight = flight
	c.pendingChunks = 0
	c.lastReply = nil
	err := mime.Write(s, m, &p.mopts)
	if err == nil {
		err = s.close()
	}
	if s.err != nil {
		err = s.err // ours, however the renderer wrapped it
	}
	switch {
	case err == nil:
		c.needReset = false
		end(nil)
		return t, c.lastReply, nil
	case errors.Is(err, errAbort):
		// The flight's replies refused the transaction; the refusals are in t.
		end(nil)
		return t, nil, t.mailErr
	}
	if c.broken == nil && c.outOfStep(s.pending) {
		// A chunk the server waits for the rest of, a flight that may sit unsent, replies
		// unread: closing the connection ends the transaction, without LAST no message.
		c.fail(err)
		c.conn.Close()
	}
	switch {
	case c.committed && !isReplyErr(err):
		err = maybeDelivered(c.ctx, err)
	case !isTransportErr(err):
		err = bodyError(err)
	}
	// A refused chunk leaves the session in step, the transaction open: RSET next time.
	c.needReset = c.broken == nil
	end(err)
	return t, c.lastReply, err
}

func isTransportErr(err error) bool {
	var te *transport.Error
	return errors.As(err, &te)
}

func isReplyErr(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.Reply != nil
}

// failedWith lists the recipients of a failed transaction that were not refused on their
// own: the ones it deferred get notAttempted, the others cause.
func failedWith(rcpts []string, t *txn, cause error) []transport.RecipientError {
	var out []transport.RecipientError
	skip := make(map[string]bool, len(t.refused)+len(t.deferred))
	for _, r := range t.refused {
		skip[r.Recipient] = true
	}
	for _, r := range t.deferred {
		skip[r] = true
		out = append(out, transport.RecipientError{Recipient: r, Err: notAttempted(cause)})
	}
	for _, r := range rcpts {
		if !skip[r] {
			out = append(out, transport.RecipientError{Recipient: r, Err: cause})
		}
	}
	return out
}

// notAttempted is the error of recipients that an earlier failure kept from being tried.
// It does not wrap cause: they were certainly not delivered, even when cause says the
// others may have been.
func notAttempted(cause error) error {
	return &transport.Error{Code: transport.Unavailable, Temporary: true,
		Err: fmt.Errorf("smtp: not attempted: the transaction failed (%v)", cause)}
}

// heldBack is the error of accepted recipients that AllOrNothing kept from the message.
func heldBack(refused []transport.RecipientError) error {
	temp := true
	for _, r := range refused {
		temp = temp && transport.IsTemporary(r.Err)
	}
	return &transport.Error{Code: transport.FailedPrecondition, Temporary: temp,
		Err: fmt.Errorf("smtp: not sent: all-or-nothing delivery and %d other recipient(s) were refused", len(refused))}
}

// queueID extracts the queue id from a final reply, such as "2.0.0 Ok: queued as 4Xyz"
// or "OK id=1rAbc"; otherwise the reply text.
func queueID(r *transport.Reply) string {
	if r == nil || len(r.Lines) == 0 {
		return ""
	}
	s := r.Lines[len(r.Lines)-1]
	lower := strings.ToLower(s)
	for _, marker := range [...]string{"queued as ", "id=", "queued "} {
		if i := strings.Index(lower, marker); i >= 0 {
			rest := strings.TrimLeft(s[i+len(marker):], " ")
			if end := strings.IndexAny(rest, " \t"); end >= 0 {
				rest = rest[:end]
			}
			if rest = strings.Trim(rest, "<>()[],;."); rest != "" {
				return rest
			}
		}
	}
	return strings.TrimSpace(s)
}
