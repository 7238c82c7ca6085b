package memmail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/postiemail/postie/mailer"
	_ "github.com/postiemail/postie/transport/filemail"
	_ "github.com/postiemail/postie/transport/memmail"
)

// The URL in an open error hides query values: a secret pasted into a parameter must not
// come back in the 'unknown parameter' error (mem:// and file:// carry no secrets, but
// every driver reports URLs the same way).
func TestOpenErrorHidesQueryValues(t *testing.T) {
	const secret = "s3cret-token"
	for _, u := range []string{"mem://?token=" + secret, "file:///tmp?token=" + secret} {
		_, err := mailer.OpenTransport(context.Background(), u)
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("%s: %v", u, err)
		}
	}
}
