package mailgunmail

import (
	"testing"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

func BenchmarkSend(b *testing.B) {
	sink := fakeapi.NewSink(fakeapi.JSON(200, map[string]string{"id": "<mg-bench@mg.example.com>", "message": "Queued. Thank you."}))
	defer sink.Close()
	tr, err := New(nil, &Options{APIKey: testKey, Domain: testDomain, BaseURL: sink.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	transporttest.RunBenchmarks(b, tr)
}
