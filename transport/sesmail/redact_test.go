package sesmail

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/postiemail/postie/transport"
)

// SES answers a bad signature with the canonical request and the string to sign, which
// hold the session token of temporary credentials. The error's text, which gets logged,
// must stop before them; the SDK's typed error stays reachable.
func TestSignatureErrorDoesNotQuoteTheRequest(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEXAMPLE-session-token"
	msg := "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.\n\n" +
		"The Canonical String for this request should have been\n'POST\n/v2/email/outbound-emails\n\nhost:email.eu-west-1.amazonaws.com\nx-amz-date:20240309T120000Z\nx-amz-security-token:" + token + "\n'\n\n" +
		"The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20240309T120000Z\n...'"
	srv, tr := fixture(t, Options{})
	srv.Enqueue(sesError(403, "SignatureDoesNotMatch", msg))
	_, err := tr.Send(context.Background(), message())
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "Canonical") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error text: %q", err)
	}
	if !strings.Contains(err.Error(), "signature we calculated does not match") || transport.CodeOf(err) != transport.PermissionDenied {
		t.Errorf("error lost its meaning: %v (code %v)", err, transport.CodeOf(err))
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" || !strings.Contains(ae.ErrorMessage(), token) {
		t.Errorf("errors.As(smithy.APIError) should still reach the SDK's full error: %v", ae)
	}

	// A long one-line message is cut too.
	srv.Enqueue(sesError(400, "MessageRejected", strings.Repeat("x", 5000)))
	_, err = tr.Send(context.Background(), message())
	if err == nil || len(err.Error()) > 800 {
		t.Errorf("a 5000-byte message made a %d-byte error", len(err.Error()))
	}
}
