package sendgridmail

import (
	"net/http"
	"testing"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

func BenchmarkSend(b *testing.B) {
	sink := fakeapi.NewSink(&fakeapi.Reply{Status: 202, Header: http.Header{"X-Message-Id": {"sg-bench"}}})
	defer sink.Close()
	tr, err := New(nil, &Options{APIKey: testKey, BaseURL: sink.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	transporttest.RunBenchmarks(b, tr)
}
