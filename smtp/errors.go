package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/postiemail/postie/transport"
)

// ErrProtocol is wrapped by the Internal error a malformed or unexpected server reply gives.
var ErrProtocol = errors.New("smtp: protocol error")

func invalidf(format string, args ...any) error {
	return transport.Errorf(transport.InvalidArgument, false, format, args...)
}

func protocolf(format string, args ...any) error {
	return &transport.Error{Code: transport.Internal, Err: fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)}
}

// replyError classifies a negative reply to the command named cmd ("MAIL", "RCPT", ...).
func replyError(cmd string, r *transport.Reply) error {
	e := transport.ClassifyReply(r)
	if e == nil {
		// A positive reply where another was expected (e.g. 250 to DATA).
		return &transport.Error{Code: transport.Internal, Reply: r, Err: fmt.Errorf("%w: unexpected reply to %s", ErrProtocol, cmd)}
	}
	e.Err = fmt.Errorf("smtp: %s refused", cmd)
	return e
}

// ioError classifies a network error that happened during phase, preferring ctx's cause.
func ioError(ctx context.Context, phase string, err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return err
	}
	err = fmt.Errorf("smtp: %s: %w", phase, err)
	if cerr := ctxError(ctx, err); cerr != nil {
		return cerr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &transport.Error{Code: transport.DeadlineExceeded, Temporary: true, Err: err}
	}
	return &transport.Error{Code: transport.Unavailable, Temporary: true, Err: err}
}

// ctxError classifies err as ctx's end when ctx ended, or when err is the timeout of a
// connection deadline set from ctx's deadline that has passed (the conn's timer can fire
// a moment before ctx's own).
func ctxError(ctx context.Context, err error) error {
	if ctx == nil {
		return nil
	}
	if cerr := transport.FromContext(ctx, err); cerr != nil {
		return cerr
	}
	var ne net.Error
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) && errors.As(err, &ne) && ne.Timeout() {
		return &transport.Error{Code: transport.DeadlineExceeded, Err: errors.Join(context.DeadlineExceeded, err)}
	}
	return nil
}

// maybeDelivered marks err as happening after the message was handed over: the server may
// have accepted it. The Code is Unknown (or the ctx code) and it is never temporary.
func maybeDelivered(ctx context.Context, err error) error {
	err = fmt.Errorf("smtp: connection lost after the end of the message: %w (%w)", transport.ErrMaybeDelivered, err)
	if cerr := ctxError(ctx, err); cerr != nil {
		return cerr
	}
	return &transport.Error{Code: transport.Unknown, Err: err}
}
