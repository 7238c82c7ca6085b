package sesmail

import (
	"context"
	"testing"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

func BenchmarkSend(b *testing.B) {
	sink := fakeapi.NewSink(fakeapi.JSON(200, map[string]string{"MessageId": "ses-bench"}))
	defer sink.Close()
	tr, err := Open(context.Background(), &Options{Region: testRegion, BaseEndpoint: sink.URL, Credentials: static})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	transporttest.RunBenchmarks(b, tr)
}
