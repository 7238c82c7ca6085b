package middleware_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// telemetry is an in-memory OpenTelemetry SDK setup.
type telemetry struct {
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) options(name string) *middleware.TracingOptions {
	return &middleware.TracingOptions{TracerProvider: tel.tp, MeterProvider: tel.mp, Transport: name}
}

func (tel *telemetry) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range tel.spans.GetSpans() {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1 (all: %v)", len(found), name, spanNames(tel.spans.GetSpans()))
	}
	return found[0]
}

func spanNames(ss tracetest.SpanStubs) []string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return n
}

func attrOf(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func (tel *telemetry) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != middleware.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, middleware.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// counter returns the value of the int64 sum name at the data point whose error.type is
// errType ("" for none).
func counter(t *testing.T, ms map[string]metricdata.Metrics, name, errType string) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, want Sum[int64]", name, m.Data)
	}
	var v int64
	for _, dp := range sum.DataPoints {
		et, _ := dp.Attributes.Value(middleware.AttrErrorType)
		if et.AsString() == errType {
			v += dp.Value
		}
	}
	return v
}

// histogram returns the count and sum of the float64 histogram name over all data points.
func histogram(t *testing.T, ms map[string]metricdata.Metrics, name string) (uint64, float64) {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0, 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, want Histogram[float64]", name, m.Data)
	}
	var n uint64
	var s float64
	for _, dp := range h.DataPoints {
		n += dp.Count
		s += dp.Sum
	}
	return n, s
}

func TestTracingSuccessfulSend(t *testing.T) {
	tel := newTelemetry(t)
	mem := memmail.New(nil)
	m := testMessage("ann@example.com", "bob@example.com")
	if _, err := middleware.Tracing(tel.options("mem"))(mem).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	s := tel.span(t, middleware.SpanSend)
	if s.SpanKind != trace.SpanKindClient {
		t.Errorf("span kind %v, want client", s.SpanKind)
	}
	if v, _ := attrOf(s.Attributes, middleware.AttrTransport); v.AsString() != "mem" {
		t.Errorf("mail.transport = %q, want mem", v.AsString())
	}
	if v, _ := attrOf(s.Attributes, middleware.AttrRecipients); v.AsInt64() != 2 {
		t.Errorf("mail.recipients.count = %d, want 2", v.AsInt64())
	}
	if _, ok := attrOf(s.Attributes, middleware.AttrErrorType); ok || s.Status.Code == codes.Error {
		t.Errorf("a successful send has error.type or an Error status: %v %v", s.Attributes, s.Status)
	}

	ms := tel.metrics(t)
	if got := counter(t, ms, middleware.MetricSent, ""); got != 1 {
		t.Errorf("%s = %d, want 1", middleware.MetricSent, got)
	}
	if _, ok := ms[middleware.MetricFailed]; ok {
		t.Errorf("%s recorded for a successful send", middleware.MetricFailed)
	}
	if n, _ := histogram(t, ms, middleware.MetricSendDuration); n != 1 {
		t.Errorf("%s count = %d, want 1", middleware.MetricSendDuration, n)
	}
	if n, sum := histogram(t, ms, middleware.MetricMessageSize); n != 1 || sum != float64(len(m.Text)) {
		t.Errorf("%s = %d values summing %v, want 1 of %d", middleware.MetricMessageSize, n, sum, len(m.Text))
	}
	for _, name := range []string{middleware.MetricRetries, middleware.MetricRateLimitWait} {
		if _, ok := ms[name]; ok {
			t.Errorf("%s recorded without Retry or RateLimit underneath", name)
		}
	}
}

func TestTracingFailedSend(t *testing.T) {
	tel := newTelemetry(t)
	mem := memmail.New(nil)
	mem.FailNext(errAuth())
	_, err := middleware.Tracing(tel.options("smtp"))(mem).Send(context.Background(), testMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.PermissionDenied {
		t.Fatalf("err = %v", err)
	}
	s := tel.span(t, middleware.SpanSend)
	if v, _ := attrOf(s.Attributes, middleware.AttrErrorType); v.AsString() != "PermissionDenied" {
		t.Errorf("error.type = %q, want PermissionDenied", v.AsString())
	}
	if v, _ := attrOf(s.Attributes, middleware.AttrReplyCode); v.AsInt64() != 535 {
		t.Errorf("mail.smtp.reply_code = %d, want 535", v.AsInt64())
	}
	if s.Status.Code != codes.Error || s.Status.Description != "PermissionDenied" {
		t.Errorf("status = %+v, want Error with the code only", s.Status)
	}
	ms := tel.metrics(t)
	if got := counter(t, ms, middleware.MetricFailed, "PermissionDenied"); got != 1 {
		t.Errorf("%s{error.type=PermissionDenied} = %d, want 1", middleware.MetricFailed, got)
	}
	if got := counter(t, ms, middleware.MetricSent, ""); got != 0 {
		t.Errorf("%s = %d for a failed send", middleware.MetricSent, got)
	}
}

// A partial send counts as sent and as failed, with the worst refusal's code.
func TestTracingPartialSend(t *testing.T) {
	tel := newTelemetry(t)
	mem := memmail.New(nil)
	mem.RejectRecipient("bob@example.com", errNoSuchUser())
	_, err := middleware.Tracing(tel.options("mem"))(mem).Send(context.Background(), testMessage("ann@example.com", "bob@example.com"))
	if err == nil {
		t.Fatal("want a PartialError")
	}
	ms := tel.metrics(t)
	if counter(t, ms, middleware.MetricSent, "") != 1 || counter(t, ms, middleware.MetricFailed, "NotFound") != 1 {
		t.Errorf("sent %d, failed{NotFound} %d; want 1 and 1",
			counter(t, ms, middleware.MetricSent, ""), counter(t, ms, middleware.MetricFailed, "NotFound"))
	}
}

// The default stack: a retry event on the span, the retries and rate-limit metrics.
func TestTracingWithRetryAndRateLimit(t *testing.T) {
	tel := newTelemetry(t)
	mem := memmail.New(nil)
	mem.FailNext(errShutdown())
	stack := transport.Chain(
		middleware.Tracing(tel.options("mem")),
		middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}),
		middleware.RateLimit(rate.NewLimiter(rate.Inf, 1), nil),
	)(mem)
	if _, err := stack.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	s := tel.span(t, middleware.SpanSend)
	if len(s.Events) != 1 || s.Events[0].Name != middleware.EventRetry {
		t.Fatalf("events %+v, want one %s", s.Events, middleware.EventRetry)
	}
	ev := s.Events[0].Attributes
	if v, _ := attrOf(ev, middleware.AttrAttempt); v.AsInt64() != 1 {
		t.Errorf("retry event attempt = %d, want 1", v.AsInt64())
	}
	if v, _ := attrOf(ev, middleware.AttrErrorType); v.AsString() != "Unavailable" {
		t.Errorf("retry event error.type = %q, want Unavailable", v.AsString())
	}
	if v, ok := attrOf(ev, middleware.AttrRetryDelay); !ok || v.AsFloat64() != 1e-6 {
		t.Errorf("retry event delay = %v, want 1e-6 s", v.AsFloat64())
	}
	ms := tel.metrics(t)
	if got := counter(t, ms, middleware.MetricRetries, ""); got != 1 {
		t.Errorf("%s = %d, want 1", middleware.MetricRetries, got)
	}
	if n, _ := histogram(t, ms, middleware.MetricRateLimitWait); n != 1 {
		t.Errorf("%s count = %d, want 1 (one per send)", middleware.MetricRateLimitWait, n)
	}
	if got := counter(t, ms, middleware.MetricSent, ""); got != 1 {
		t.Errorf("%s = %d, want 1", middleware.MetricSent, got)
	}
}

// phasedTransport reports phases and its server the way the SMTP engine does.
func phasedTransport(failPhase string) transport.Transport {
	return transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		for _, p := range []string{transport.PhaseDial, transport.PhaseTLS, transport.PhaseAuth, transport.PhaseEnvelope, transport.PhaseBody} {
			end := transport.StartPhase(ctx, p)
			if p == transport.PhaseDial {
				transport.ObserveServer(ctx, "mx.example.net", 2525)
			}
			if p == failPhase {
				err := errAuth()
				end(err)
				return nil, err
			}
			end(nil)
		}
		return &transport.Receipt{Accepted: m.Envelope.To, Reply: &transport.Reply{Code: 250}}, nil
	})
}

func TestTracingPhaseSpansAndServer(t *testing.T) {
	tel := newTelemetry(t)
	if _, err := middleware.Tracing(tel.options("smtp"))(phasedTransport("")).Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	send := tel.span(t, middleware.SpanSend)
	for _, name := range []string{"mail.dial", "mail.tls", "mail.auth", "mail.envelope", "mail.body"} {
		ps := tel.span(t, name)
		if ps.Parent.SpanID() != send.SpanContext.SpanID() || ps.SpanKind != trace.SpanKindInternal {
			t.Errorf("%s: parent %v kind %v, want an internal child of %s", name, ps.Parent.SpanID(), ps.SpanKind, middleware.SpanSend)
		}
	}
	if v, _ := attrOf(send.Attributes, middleware.AttrServerAddr); v.AsString() != "mx.example.net" {
		t.Errorf("server.address = %q", v.AsString())
	}
	if v, _ := attrOf(send.Attributes, middleware.AttrServerPort); v.AsInt64() != 2525 {
		t.Errorf("server.port = %d", v.AsInt64())
	}
	if v, _ := attrOf(send.Attributes, middleware.AttrReplyCode); v.AsInt64() != 250 {
		t.Errorf("mail.smtp.reply_code = %d, want 250", v.AsInt64())
	}
}

func TestTracingFailedPhase(t *testing.T) {
	tel := newTelemetry(t)
	_, err := middleware.Tracing(tel.options("smtp"))(phasedTransport(transport.PhaseAuth)).Send(context.Background(), testMessage("ann@example.com"))
	if err == nil {
		t.Fatal("want the auth error")
	}
	auth := tel.span(t, "mail.auth")
	if v, _ := attrOf(auth.Attributes, middleware.AttrErrorType); v.AsString() != "PermissionDenied" || auth.Status.Code != codes.Error {
		t.Errorf("auth span: error.type %q, status %v", v.AsString(), auth.Status)
	}
	if got := spanNames(tel.spans.GetSpans()); strings.Contains(strings.Join(got, " "), "mail.envelope") {
		t.Errorf("spans after the failed phase: %v", got)
	}
}

// No span or metric carries an address, the subject or the body, even when the error
// text contains an address.
func TestTracingKeepsPersonalDataOut(t *testing.T) {
	tel := newTelemetry(t)
	mem := memmail.New(nil)
	mem.RejectRecipient("bob@example.com", reply(550, transport.Enhanced{5, 1, 1}, "<bob@example.com>: no such user"))
	mem.FailNext(transport.Errorf(transport.Unavailable, true, "relay for <ann@example.com> is down"))
	stack := transport.Chain(middleware.Tracing(tel.options("mem")), middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}))(mem)
	m := testMessage("ann@example.com", "bob@example.com")
	_, _ = stack.Send(context.Background(), m)

	forbidden := []string{"@", m.Subject, strings.TrimSpace(m.Text)}
	check := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			for _, f := range forbidden {
				if strings.Contains(kv.Value.Emit(), f) {
					t.Errorf("%s attribute %s = %q contains %q", where, kv.Key, kv.Value.Emit(), f)
				}
			}
		}
	}
	for _, s := range tel.spans.GetSpans() {
		check("span "+s.Name, s.Attributes)
		if strings.Contains(s.Status.Description, "@") {
			t.Errorf("span status %q holds an address", s.Status.Description)
		}
		for _, e := range s.Events {
			check("event "+e.Name, e.Attributes)
		}
	}
	for name, m := range tel.metrics(t) {
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				sets = append(sets, dp.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				sets = append(sets, dp.Attributes)
			}
		}
		for _, s := range sets {
			check("metric "+name, s.ToSlice())
		}
	}
}

// With no providers in the options, Tracing uses the globals of the moment of the send,
// not those of the moment it was built.
func TestTracingUsesGlobalProvidersAtSendTime(t *testing.T) {
	tr := middleware.Tracing(nil)(memmail.New(nil)) // built while the globals are no-ops

	tel := newTelemetry(t)
	prevT, prevM := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(tel.tp)
	otel.SetMeterProvider(tel.mp)
	t.Cleanup(func() { otel.SetTracerProvider(prevT); otel.SetMeterProvider(prevM) })

	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	s := tel.span(t, middleware.SpanSend)
	if v, _ := attrOf(s.Attributes, middleware.AttrTransport); v.AsString() != "unknown" {
		t.Errorf("mail.transport = %q, want the default \"unknown\"", v.AsString())
	}
	if got := counter(t, tel.metrics(t), middleware.MetricSent, ""); got != 1 {
		t.Errorf("%s = %d on the global meter, want 1", middleware.MetricSent, got)
	}
}

func TestTracingCtxCanceled(t *testing.T) {
	tel := newTelemetry(t)
	mem := memmail.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := middleware.Tracing(tel.options("mem"))(mem).Send(ctx, testMessage("ann@example.com"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if v, _ := attrOf(tel.span(t, middleware.SpanSend).Attributes, middleware.AttrErrorType); v.AsString() != "Canceled" {
		t.Errorf("error.type = %q, want Canceled", v.AsString())
	}
}
