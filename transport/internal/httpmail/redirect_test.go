package httpmail

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A redirect must not take the credentials elsewhere: the default client does not follow
// it, and the caller gets the redirect as the provider's (unexpected) answer.
func TestRedirectNotFollowed(t *testing.T) {
	leaked := make(chan string, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked <- r.Header.Get("Authorization")
	}))
	defer other.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		ep, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", status)
		})
		_, resp, err := post(ep, context.Background(), nil)
		if err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		if resp.Status != status || resp.OK() {
			t.Errorf("%d: got status %d", status, resp.Status)
		}
		select {
		case auth := <-leaked:
			t.Errorf("%d: the redirect was followed, carrying Authorization %q", status, auth)
		default:
		}
	}
}
