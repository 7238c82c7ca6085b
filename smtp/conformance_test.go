package smtp_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/transporttest"
)

// TestConformance runs the transport conformance suite against smtp.Transport talking to a
// real in-process SMTP server (STARTTLS on a CA made at start, AUTH), with every fault
// kind injected by that server.
func TestConformance(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	transporttest.RunConformanceTests(t, newConformanceHarness, &transporttest.Options{
		AsTests: []func(*testing.T, transport.Transport){
			func(t *testing.T, tr transport.Transport) {
				var st *smtp.Transport
				if !transport.As(tr, &st) || st == nil {
					t.Fatal("As(*smtp.Transport) failed")
				}
			},
		},
	})
}

const conformanceUser, conformancePass = "conformance", "pa55word-for-the-suite"

type conformanceHarness struct{ srv *smtptest.Server }

func newConformanceHarness(_ context.Context, _ *testing.T) (transporttest.Harness, error) {
	srv, err := smtptest.NewServer(&smtptest.ServerOptions{Users: map[string]string{conformanceUser: conformancePass}})
	if err != nil {
		return nil, err
	}
	return &conformanceHarness{srv: srv}, nil
}

func (h *conformanceHarness) MakeTransport(context.Context) (transport.Transport, error) {
	return smtp.New(h.srv.Addr(), &smtp.Options{
		TLS:       smtp.TLSRequired,
		TLSConfig: h.srv.ClientTLSConfig(),
		Username:  conformanceUser,
		Password:  conformancePass,
	})
}

func (h *conformanceHarness) Deliveries(context.Context) ([]transporttest.Delivery, error) {
	var ds []transporttest.Delivery
	for _, m := range h.srv.Messages() {
		ds = append(ds, transporttest.Delivery{
			Envelope: transport.Envelope{From: m.From, To: m.To},
			Raw:      m.Raw,
		})
	}
	return ds, nil
}

// InjectFault maps each fault kind to what a real server sends for it.
func (h *conformanceHarness) InjectFault(f transporttest.Fault) bool {
	var sf smtptest.Fault
	switch f.Kind {
	case transporttest.TempRejectRecipient:
		sf = smtptest.Fault{At: smtptest.AtRcpt, Recipient: f.Recipient, Code: 450, Enhanced: [3]int{4, 2, 1}, Text: "mailbox busy, try again later"}
	case transporttest.PermRejectRecipient:
		sf = smtptest.Fault{At: smtptest.AtRcpt, Recipient: f.Recipient, Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"}
	case transporttest.ServiceUnavailable:
		// 421 closes the connection after it is sent, as RFC 5321 says.
		sf = smtptest.Fault{At: smtptest.AtMail, Code: 421, Enhanced: [3]int{4, 3, 2}, Text: "service shutting down"}
	case transporttest.RateLimited:
		sf = smtptest.Fault{At: smtptest.AtMail, Code: 452, Enhanced: [3]int{4, 7, 0}, Text: "rate limit exceeded, try again later"}
	case transporttest.AuthFailed:
		sf = smtptest.Fault{At: smtptest.AtAuth, Code: 535, Enhanced: [3]int{5, 7, 8}, Text: "authentication credentials invalid"}
	case transporttest.DropAfterData:
		sf = smtptest.Fault{At: smtptest.AtData, Drop: true}
	case transporttest.Stall:
		sf = smtptest.Fault{At: smtptest.AtMail, Stall: true}
	default:
		return false
	}
	return h.srv.Inject(sf) == nil
}

func (h *conformanceHarness) Close() { _ = h.srv.Close() }
