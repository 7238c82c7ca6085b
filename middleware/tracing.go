package middleware

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/postiemail/postie/transport"
)

// ScopeName is the instrumentation scope of the tracer and meter Tracing uses.
const ScopeName = "github.com/postiemail/postie/middleware"

// Span, event and attribute names. OpenTelemetry has no stable convention for mail, so
// Postie's own keys start with "mail."; server.address, server.port and error.type are the
// general semantic conventions.
const (
	SpanSend       = "mail.send"  // one client span per logical send
	EventRetry     = "mail.retry" // one event on it per retry
	AttrTransport  = "mail.transport"
	AttrRecipients = "mail.recipients.count"
	AttrReplyCode  = "mail.smtp.reply_code"
	AttrAttempt    = "mail.retry.attempt"
	AttrRetryDelay = "mail.retry.delay" // seconds
	AttrPhase      = "mail.phase"
	AttrErrorType  = "error.type" // the transport.Code name, only on failure
	AttrServerAddr = "server.address"
	AttrServerPort = "server.port"
)

// Metric names.
const (
	MetricSent          = "mail.client.sent"            // messages accepted for at least one recipient
	MetricFailed        = "mail.client.failed"          // sends that returned an error, by error.type
	MetricSendDuration  = "mail.client.send.duration"   // seconds per logical send, retries included
	MetricMessageSize   = "mail.client.message.size"    // bytes of content (bodies and known attachment sizes)
	MetricRateLimitWait = "mail.client.rate_limit.wait" // seconds a send waited for rate-limit tokens
	MetricRetries       = "mail.client.retries"         // retries (attempts after the first)
)

// TracingOptions configures Tracing. The zero value (or nil) means the defaults below.
type TracingOptions struct {
	// TracerProvider makes the tracer. Default: otel.GetTracerProvider(), looked up on every
	// send (never captured when Tracing is called), so setting the global later works.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter. Default: otel.GetMeterProvider(), looked up on every send.
	MeterProvider metric.MeterProvider
	// Transport is the value of the mail.transport attribute on spans and metrics: a short,
	// fixed name such as "smtp", "ses" or "mem". Default "unknown".
	Transport string
}

// Tracing returns middleware that records one OpenTelemetry client span named "mail.send"
// per logical send, and send metrics.
//
// The span carries mail.transport, mail.recipients.count, server.address and server.port (as
// the transport reports them through transport.ObserveServer), mail.smtp.reply_code, and on
// failure error.type (the transport.Code name) with an Error status. Retry adds a
// "mail.retry" event per retry. When the transport reports its phases
// (transport.StartPhase), each becomes a child span: mail.dial, mail.tls, mail.auth,
// mail.envelope, mail.body. No address, subject, body or error text ever goes into a span or
// a metric attribute.
//
// Metrics (attributes mail.transport, and error.type on failures): mail.client.sent,
// mail.client.failed, mail.client.send.duration, mail.client.message.size,
// mail.client.rate_limit.wait (when RateLimit is underneath) and mail.client.retries (when
// Retry is underneath).
//
// Place it outermost so the span covers every attempt.
func Tracing(opts *TracingOptions) transport.Middleware {
	t := &tracing{name: "unknown"}
	if opts != nil {
		t.tp, t.mp = opts.TracerProvider, opts.MeterProvider
		if opts.Transport != "" {
			t.name = opts.Transport
		}
	}
	tattr := attribute.String(AttrTransport, t.name)
	t.startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(tattr)}
	okSet := metric.WithAttributeSet(attribute.NewSet(tattr))
	t.okAdd, t.okRec = []metric.AddOption{okSet}, []metric.RecordOption{okSet}
	for c := range t.failAdd {
		s := metric.WithAttributeSet(attribute.NewSet(tattr, attribute.String(AttrErrorType, transport.Code(c).String())))
		t.failAdd[c], t.failRec[c] = []metric.AddOption{s}, []metric.RecordOption{s}
	}
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			return t.send(ctx, next, m)
		})
	}
}

// numCodes is the number of transport.Code values; failure attribute sets are built once
// for each.
const numCodes = int(transport.Internal) + 1

type tracing struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	name string

	startOpts   []trace.SpanStartOption
	okAdd       []metric.AddOption
	okRec       []metric.RecordOption
	failAdd     [numCodes][]metric.AddOption
	failRec     [numCodes][]metric.RecordOption
	instruments atomic.Pointer[instruments]
}

// instruments are the tracer and metric instruments made from one pair of providers.
type instruments struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	tracer trace.Tracer

	sent, failed, retries metric.Int64Counter
	duration, size, wait  metric.Float64Histogram
}

var (
	secondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	bytesBuckets   = []float64{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}
)

// resolve returns the instruments for the current providers, made once per provider pair.
func (t *tracing) resolve() *instruments {
	tp, mp := t.tp, t.mp
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if c := t.instruments.Load(); c != nil && c.tp == tp && c.mp == mp {
		return c
	}
	c := &instruments{tp: tp, mp: mp, tracer: tp.Tracer(ScopeName)}
	meter := mp.Meter(ScopeName)
	var errs [6]error
	c.sent, errs[0] = meter.Int64Counter(MetricSent, metric.WithUnit("{message}"),
		metric.WithDescription("Messages accepted for at least one recipient."))
	c.failed, errs[1] = meter.Int64Counter(MetricFailed, metric.WithUnit("{message}"),
		metric.WithDescription("Sends that returned an error, by error.type."))
	c.retries, errs[2] = meter.Int64Counter(MetricRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts after the first one of a send."))
	c.duration, errs[3] = meter.Float64Histogram(MetricSendDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of a logical send, retries and waits included."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	c.size, errs[4] = meter.Float64Histogram(MetricMessageSize, metric.WithUnit("By"),
		metric.WithDescription("Size of the message content before MIME encoding: bodies and attachments of known size."),
		metric.WithExplicitBucketBoundaries(bytesBuckets...))
	c.wait, errs[5] = meter.Float64Histogram(MetricRateLimitWait, metric.WithUnit("s"),
		metric.WithDescription("Time a send waited for rate-limit tokens."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	if err := errors.Join(errs[:]...); err != nil {
		otel.Handle(err) // the meter still returned usable (no-op) instruments
	}
	// Providers are compared on every send; cache only those that compare safely.
	if isComparable(tp) && isComparable(mp) {
		t.instruments.Store(c)
	}
	return c
}

func isComparable(v any) bool { return reflect.TypeOf(v).Comparable() }

func (t *tracing) send(ctx context.Context, next transport.Transport, m *transport.Message) (*transport.Receipt, error) {
	in := t.resolve()
	ctx, si := withSendInfo(ctx)
	ctx, span := in.tracer.Start(ctx, SpanSend, t.startOpts...)
	recording := span.IsRecording()
	if recording {
		span.SetAttributes(attribute.Int(AttrRecipients, len(m.Envelope.To)))
		ctx = transport.WithObserver(ctx, newSpanObserver(ctx, in.tracer, span))
	}
	start := time.Now()
	r, err := next.Send(ctx, m)
	elapsed := time.Since(start).Seconds()

	code := transport.CodeOf(err)
	add, rec := t.okAdd, t.okRec
	if err != nil {
		add, rec = t.attrsFor(code)
		in.failed.Add(ctx, 1, add...)
	}
	if err == nil || r != nil && len(r.Accepted) > 0 {
		in.sent.Add(ctx, 1, t.okAdd...)
	}
	in.duration.Record(ctx, elapsed, rec...)
	in.size.Record(ctx, float64(contentSize(m)), t.okRec...)
	if si.limited.Load() {
		in.wait.Record(ctx, time.Duration(si.waited.Load()).Seconds(), t.okRec...)
	}
	if a := si.attempts.Load(); a > 1 {
		in.retries.Add(ctx, a-1, t.okAdd...)
	}

	if recording {
		if rc := replyCode(r, err); rc != 0 {
			span.SetAttributes(attribute.Int(AttrReplyCode, rc))
		}
		if err != nil {
			span.SetAttributes(attribute.String(AttrErrorType, code.String()))
			span.SetStatus(codes.Error, code.String()) // never err.Error(): it may hold addresses
		}
	}
	span.End()
	return r, err
}

func (t *tracing) attrsFor(c transport.Code) ([]metric.AddOption, []metric.RecordOption) {
	if c >= 0 && int(c) < numCodes {
		return t.failAdd[c], t.failRec[c]
	}
	s := metric.WithAttributeSet(attribute.NewSet(attribute.String(AttrTransport, t.name), attribute.String(AttrErrorType, c.String())))
	return []metric.AddOption{s}, []metric.RecordOption{s}
}

// replyCode returns the SMTP reply code behind err, or of the final reply in r, or 0.
func replyCode(r *transport.Receipt, err error) int {
	var e *transport.Error
	if errors.As(err, &e) && e.Reply != nil {
		return e.Reply.Code
	}
	if r != nil && r.Reply != nil {
		return r.Reply.Code
	}
	return 0
}

// contentSize is the size of m's bodies and attachments before MIME encoding, without
// reading anything: attachments of unknown length count 0.
func contentSize(m *transport.Message) int64 {
	n := int64(len(m.Text) + len(m.HTML))
	for i := range m.Alternatives {
		n += int64(len(m.Alternatives[i].Body))
	}
	for i := range m.Attachments {
		if l, ok := m.Attachments[i].Len(); ok {
			n += l
		}
	}
	return n
}

// phaseSpanNames maps the transport's phases to child span names; any other phase is
// reported as "mail.phase" with a mail.phase attribute, so names stay a fixed set.
var phaseSpanNames = map[string]string{
	transport.PhaseDial:     "mail.dial",
	transport.PhaseTLS:      "mail.tls",
	transport.PhaseAuth:     "mail.auth",
	transport.PhaseEnvelope: "mail.envelope",
	transport.PhaseBody:     "mail.body",
}

// newSpanObserver turns the transport's reports into child spans of the send span and its
// server attributes.
func newSpanObserver(ctx context.Context, tr trace.Tracer, send trace.Span) *transport.Observer {
	return &transport.Observer{
		Phase: func(phase string) func(error) {
			name, known := phaseSpanNames[phase]
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
			if !known {
				name = "mail.phase"
				opts = append(opts, trace.WithAttributes(attribute.String(AttrPhase, phase)))
			}
			_, span := tr.Start(ctx, name, opts...)
			return func(err error) {
				if err != nil {
					code := transport.CodeOf(err).String()
					span.SetAttributes(attribute.String(AttrErrorType, code))
					span.SetStatus(codes.Error, code)
				}
				span.End()
			}
		},
		Server: func(host string, port int) {
			send.SetAttributes(attribute.String(AttrServerAddr, host), attribute.Int(AttrServerPort, port))
		},
	}
}

// addRetryEvent adds a "mail.retry" event to the span in ctx. Retry calls it before each wait.
func addRetryEvent(ctx context.Context, attempt int, err error, wait time.Duration) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventRetry, trace.WithAttributes(
		attribute.Int(AttrAttempt, attempt),
		attribute.String(AttrErrorType, transport.CodeOf(err).String()),
		attribute.Float64(AttrRetryDelay, wait.Seconds()),
	))
}
