package postmarkmail

import (
	"testing"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

func BenchmarkSend(b *testing.B) {
	sink := fakeapi.NewSink(fakeapi.JSON(200, map[string]any{"To": "x", "SubmittedAt": "2024-03-09T12:00:00Z", "MessageID": "pm-bench", "ErrorCode": 0, "Message": "OK"}))
	defer sink.Close()
	tr, err := New(nil, &Options{ServerToken: testToken, BaseURL: sink.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	transporttest.RunBenchmarks(b, tr)
}
