package smtp

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/postiemail/postie/transport"
)

// ChunkSize is the size of the BDAT chunks a body of unknown size is cut into: one
// written to Client.Bdat, or sent by Send to a server that offers no SIZE. A body whose
// size SIZE made Send compute goes in chunks sized to it.
const ChunkSize = 1 << 20

var dotLine = []byte("\n.")

// dotWriter dot-stuffs a CRLF body into w (RFC 5321 4.5.2): every line that starts with
// "." gets one more. It scans for "\n." with bytes.Index and copies the spans between
// hits in bulk. The body must already use CRLF line ends (package mime guarantees it).
// A body that is already stuffed (mime.Options.DotStuff) passes through unscanned.
type dotWriter struct {
	w       *bufio.Writer
	n       int64   // body bytes written, before stuffing
	tail    [2]byte // the last two body bytes
	stuffed bool    // the body comes dot-stuffed: only pass it on
	err     error
}

func (d *dotWriter) reset(w *bufio.Writer, stuffed bool) { *d = dotWriter{w: w, stuffed: stuffed} }

func (d *dotWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	all := p
	if !d.stuffed {
		if (d.n == 0 || d.tail[1] == '\n') && p[0] == '.' {
			d.w.WriteByte('.')
		}
		for {
			i := bytes.Index(p, dotLine)
			if i < 0 {
				break
			}
			d.w.Write(p[:i+2])
			d.w.WriteByte('.')
			p = p[i+2:]
		}
	}
	_, err := d.w.Write(p)
	if err != nil {
		d.err = err
		return 0, err
	}
	if len(all) >= 2 {
		d.tail = [2]byte{all[len(all)-2], all[len(all)-1]}
	} else {
		d.tail = [2]byte{d.tail[1], all[0]}
	}
	d.n += int64(len(all))
	return len(all), nil
}

// close writes the end-of-data line, after a CRLF when the body did not end with one.
func (d *dotWriter) close() error {
	if d.err != nil {
		return d.err
	}
	if d.n > 0 && d.tail != [2]byte{'\r', '\n'} {
		d.w.WriteString("\r\n")
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}

// chunkWriter cuts a body into BDAT chunks of up to max bytes; emit sends one.
// A full buffer is held until more data comes, so that the final chunk is never empty
// unless the body is.
type chunkWriter struct {
	buf    []byte // grows up to max, so a small message needs no big buffer
	max    int
	emit   func(p []byte, last bool) error
	n      int64
	err    error // the first error emit returned
	closed bool
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("smtp: write after the last chunk")
	}
	written := 0
	for len(p) > 0 {
		space := cap(w.buf) - len(w.buf)
		if space == 0 && cap(w.buf) < w.max {
			grown := make([]byte, len(w.buf), min(max(2*cap(w.buf), 4096), w.max))
			copy(grown, w.buf)
			w.buf = grown
			continue
		}
		if space == 0 {
			if err := w.emit(w.buf, false); err != nil {
				w.err = err
				return written, err
			}
			w.buf = w.buf[:0]
			continue
		}
		k := min(space, len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		written += k
		w.n += int64(k)
	}
	return written, nil
}

func (w *chunkWriter) close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	w.closed = true
	w.err = w.emit(w.buf, true)
	w.buf = w.buf[:0]
	return w.err
}

// writeChunk queues "BDAT n [LAST]" and the chunk.
func (c *Client) writeChunk(p []byte, last bool) error {
	c.chunkHeader(int64(len(p)), last)
	return c.chunkData(p)
}

// chunkHeader queues "BDAT n [LAST]" for a chunk of n bytes.
func (c *Client) chunkHeader(n int64, last bool) {
	b := append(c.hdrBuf[:0], "BDAT "...)
	b = strconv.AppendInt(b, n, 10)
	if last {
		b = append(b, " LAST"...)
	}
	if c.tr != nil {
		c.tr.bytesLine("C: ", b)
		if n > 0 {
			c.tr.body(n)
		}
	}
	b = append(b, '\r', '\n')
	c.hdrBuf = b[:0]
	c.bodyTimeout = c.cfg.Timeouts.DataBlock
	c.bw.Write(b) // an error sticks in c.bw and comes back from the next write
	c.bodyTimeout = 0
}

// chunkData queues chunk bytes; the buffered writer sends large ones straight on.
func (c *Client) chunkData(p []byte) error {
	c.bodyTimeout = c.cfg.Timeouts.DataBlock
	_, err := c.bw.Write(p)
	c.bodyTimeout = 0
	if err != nil {
		c.fail(err)
		return ioError(c.ctx, "BDAT", err)
	}
	return nil
}

// maxFlightChunk bounds the first BDAT chunk of a body whose size is known, which goes
// out with MAIL and RCPT before their replies are read. A message up to this size costs
// one round trip; a transaction the server refuses wastes at most this much upload (on a
// link of 100 Mbit/s, about what one round trip of 300 ms costs). The rest of a larger
// body follows in one more chunk.
const maxFlightChunk = 4 << 20

// bdatStream sends a body whose exact size is known (from mime.Size) as BDAT chunks
// straight from the renderer's writes, with no chunk buffer: the chunk sizes are fixed
// in advance. With a pipelined flight the first chunk holds at most maxFlightChunk bytes
// and a second one the rest; otherwise one chunk holds it all.
//
// No chunk carries LAST. close ends the message with "BDAT 0 LAST" (RFC 3030), and only
// after the renderer has finished with exactly size bytes: a render that fails, or comes
// out shorter or longer than counted, leaves the transaction without its LAST, and
// closing the connection then abandons it on every server, including those that take a
// chunk cut short by the connection's end as complete.
type bdatStream struct {
	c       *Client
	size    int64 // the whole body
	first   int64 // the first chunk's size
	n       int64 // body bytes queued
	pending int64 // bytes of the current chunk still to come
	chunks  int   // chunk headers queued
	err     error
}

func (s *bdatStream) reset(c *Client, size int64, flight bool) {
	first := size
	if flight {
		first = min(size, maxFlightChunk)
	}
	*s = bdatStream{c: c, size: size, first: first}
}

func (s *bdatStream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if int64(len(p)) > s.size-s.n {
		s.err = sizeMismatch(s.size, "more")
		return 0, s.err
	}
	written := 0
	for len(p) > 0 {
		if s.pending == 0 {
			n := s.first
			if s.chunks > 0 {
				n = s.size - s.n
			}
			s.c.chunkHeader(n, false)
			s.pending = n
			s.chunks++
		}
		k := int(min(int64(len(p)), s.pending))
		if err := s.c.chunkData(p[:k]); err != nil {
			s.err = err
			return written, err
		}
		s.pending -= int64(k)
		s.n += int64(k)
		written += k
		p = p[k:]
		if s.pending == 0 {
			if err := s.c.chunkSent(false, s.n < s.size); err != nil {
				s.err = err
				return written, err
			}
		}
	}
	return written, nil
}

// close checks that the whole body came, then sends BDAT 0 LAST and reads the replies.
func (s *bdatStream) close() error {
	if s.err != nil {
		return s.err
	}
	if s.n != s.size {
		s.err = sizeMismatch(s.size, "fewer")
		return s.err
	}
	c := s.c
	c.committed = true
	c.chunkHeader(0, true)
	s.err = c.chunkSent(true, false)
	return s.err
}

func sizeMismatch(size int64, what string) error {
	return invalidf("smtp: the message rendered to %s bytes than the %d that mime.Size counted, so it was not sent: an attachment's Open func must return the same content every time", what, size)
}

// outOfStep reports whether a BDAT body that stops now, between or inside chunks, leaves
// the session unusable: a chunk incomplete (pending bytes), the flight's commands unsent
// or unanswered, or pipelined chunk replies unread. Only closing the connection then
// ends the transaction safely.
func (c *Client) outOfStep(pending int64) bool {
	return pending > 0 || c.flight || c.pendingChunks > 0
}

// BodyWriter streams a message body for Data or Bdat. Lines must end in CRLF. Close ends
// the body and reads the server's final reply.
type BodyWriter struct {
	c      *Client
	dot    *dotWriter
	chunks *chunkWriter
	reply  *transport.Reply
	done   bool
	final  error
}

// Write writes body bytes.
func (w *BodyWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("smtp: write after Close")
	}
	if w.chunks != nil {
		return w.chunks.Write(p)
	}
	w.c.bodyTimeout = w.c.cfg.Timeouts.DataBlock
	n, err := w.dot.Write(p)
	w.c.bodyTimeout = 0
	if err != nil {
		w.c.fail(err)
		return n, ioError(w.c.ctx, "DATA", err)
	}
	return n, nil
}

// Close ends the body and waits for the server's reply to it. An error after the end of
// the body was sent wraps transport.ErrMaybeDelivered.
func (w *BodyWriter) Close() error {
	if w.done {
		return w.final
	}
	w.done = true
	defer w.c.end()
	c := w.c
	if w.chunks != nil {
		w.final = w.chunks.close()
		c.chunk = w.chunks.buf[:0]
		w.reply = c.lastReply
		if w.final != nil && c.committed && !isReplyErr(w.final) {
			w.final = maybeDelivered(c.ctx, w.final)
		}
		c.needReset = w.final != nil
		return w.final
	}
	r, err := c.endData(w.dot)
	w.reply, w.final = r, err
	c.needReset = false // after the final reply no transaction is open, whatever it said
	return err
}

// Reply returns the server's reply to the end of the body, after Close.
func (w *BodyWriter) Reply() *transport.Reply { return w.reply }

// Data sends DATA and returns a writer for the body. ctx bounds the whole body, up to
// Close.
func (c *Client) Data(ctx context.Context) (*BodyWriter, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	c.begin(ctx)
	if err := c.roundTrip("DATA", c.cfg.Timeouts.DataInit, 354, "DATA"); err != nil {
		c.end()
		return nil, err
	}
	c.dot.reset(c.bw, false)
	return &BodyWriter{c: c, dot: &c.dot}, nil
}

// Bdat returns a writer that sends the body in BDAT chunks of ChunkSize (RFC 3030); the
// server must offer CHUNKING. ctx bounds the whole body, up to Close.
func (c *Client) Bdat(ctx context.Context) (*BodyWriter, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if !c.ext.chunking {
		return nil, unimplemented(c, "CHUNKING", "BDAT needs it")
	}
	c.begin(ctx)
	c.prepareChunks(false)
	return &BodyWriter{c: c, chunks: &c.cw}, nil
}

// prepareChunks sets up c.cw; flight says the first chunk completes a pipelined flight
// whose MAIL and RCPT replies are still to be read.
func (c *Client) prepareChunks(flight bool) {
	c.cw = chunkWriter{buf: c.chunk[:0], max: ChunkSize, emit: c.emitFn}
	c.flight = flight
	c.pendingChunks = 0
	c.lastReply = nil
}

// emitChunk sends one BDAT chunk and, as the protocol and pipelining allow, reads replies.
// A chunk that is not the last always has more body after it.
func (c *Client) emitChunk(p []byte, last bool) error {
	if last {
		c.committed = true
	}
	if err := c.writeChunk(p, last); err != nil {
		return err
	}
	return c.chunkSent(last, !last)
}

// chunkSent follows a chunk that has been queued whole; more says body bytes follow it.
// Replies are read as late as the protocol allows. With pipelining a chunk's reply waits
// for the LAST chunk, except that a flight's first chunk with more body after it ends
// the flight: its replies (MAIL, RCPT, the chunk) stop a refused transaction before the
// rest is sent. Without pipelining every chunk waits for its reply. errAbort says the
// flight's replies refused the transaction.
func (c *Client) chunkSent(last, more bool) error {
	pipe := c.ext.pipelining && !c.cfg.NoPipelining
	if pipe && !last && !(c.flight && more) {
		c.pendingChunks++
		return nil
	}
	if err := c.flush("BDAT"); err != nil {
		return err
	}
	if !c.flight {
		return c.chunkReplies(last)
	}
	c.flight = false
	if err := c.flightReplies(); err != nil {
		return err
	}
	if c.t.mailErr != nil && c.broken != nil {
		return errAbort // closing (421): no BDAT reply comes
	}
	err := c.chunkReplies(last)
	if c.t.mailErr != nil || len(c.t.accepted) == 0 {
		return errAbort
	}
	return err
}

// chunkReplies reads the replies to the pipelined chunks and then to this one, all of
// them even after a refusal, so the session stays in step; it returns the first refusal.
func (c *Client) chunkReplies(last bool) error {
	var first error
	for ; c.pendingChunks > 0; c.pendingChunks-- {
		if err := c.chunkReply(false); err != nil {
			if c.broken != nil {
				return err // no more replies come
			}
			first = cmp.Or(first, err)
		}
	}
	return cmp.Or(first, c.chunkReply(last))
}

// chunkReply reads the reply to one BDAT.
func (c *Client) chunkReply(last bool) error {
	d := c.cfg.Timeouts.DataInit
	if last {
		d = c.cfg.Timeouts.DataTerm
	}
	if err := c.read("BDAT", d); err != nil {
		return err
	}
	if c.rr.code/100 != 2 {
		r := c.rr.reply()
		c.lastReply = r
		return replyError("BDAT", r)
	}
	if last {
		c.lastReply = c.rr.reply()
	}
	return nil
}

// endData ends a DATA body and reads the final reply.
func (c *Client) endData(d *dotWriter) (*transport.Reply, error) {
	c.committed = true
	if c.tr != nil {
		c.tr.body(d.n)
		c.tr.line("C: ", ".")
	}
	if err := d.close(); err != nil {
		c.fail(err)
		return nil, maybeDelivered(c.ctx, err)
	}
	if err := c.bw.Flush(); err != nil {
		c.fail(err)
		return nil, maybeDelivered(c.ctx, err)
	}
	if err := c.read("end of data", c.cfg.Timeouts.DataTerm); err != nil {
		return nil, maybeDelivered(c.ctx, err)
	}
	r := c.rr.reply()
	if r.Code != 250 {
		return r, replyError("DATA (end of message)", r)
	}
	return r, nil
}

// bodyError classifies an error the MIME writer returned: ours (I/O, already classified)
// or its own (the message cannot be rendered).
func bodyError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		return err
	}
	return &transport.Error{Code: transport.InvalidArgument, Err: fmt.Errorf("smtp: rendering the message: %w", err)}
}
