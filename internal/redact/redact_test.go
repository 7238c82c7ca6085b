package redact_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/postiemail/postie/internal/redact"
)

type options struct {
	Key  string
	Name string
}

type printedOptions options

func (o options) printed() printedOptions {
	o.Key = redact.Mask(o.Key)
	return printedOptions(o)
}

func (o options) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "redact_test.options", o.printed())
}
func (o options) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }

func TestFormat(t *testing.T) {
	o := options{Key: "s3cret", Name: "n"}
	for format, want := range map[string]string{
		"%v":  "{Key:[redacted] Name:n}",
		"%+v": "{Key:[redacted] Name:n}",
		"%s":  "{Key:[redacted] Name:n}",
		"%#v": `redact_test.options{Key:"[redacted]", Name:"n"}`,
	} {
		if got := fmt.Sprintf(format, o); got != want {
			t.Errorf("%s: got %s, want %s", format, got, want)
		}
	}
	if got := fmt.Sprintf("%v", &o); got != "{Key:[redacted] Name:n}" {
		t.Errorf("pointer: %s", got)
	}
	if got := fmt.Sprint(options{Name: "n"}); got != "{Key: Name:n}" {
		t.Errorf("unset key: %s", got)
	}
	if b, err := json.Marshal(o); err != nil || string(b) != `{"Key":"[redacted]","Name":"n"}` {
		t.Errorf("json: %s %v", b, err)
	}
}
