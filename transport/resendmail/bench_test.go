package resendmail

import (
	"testing"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

func BenchmarkSend(b *testing.B) {
	sink := fakeapi.NewSink(fakeapi.JSON(200, map[string]string{"id": "rs-bench"}))
	defer sink.Close()
	tr, err := New(nil, &Options{APIKey: testKey, BaseURL: sink.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	transporttest.RunBenchmarks(b, tr)
}
