package documents_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runcmd/runcmd/documents"
)

func twentySteps() []byte {
	var b strings.Builder
	b.WriteString(`{"schemaVersion": "2.2", "description": "bench", "parameters": {
  "msg": {"type": "String", "default": "hello", "allowedPattern": "^[a-z ]+$"},
  "cmds": {"type": "StringList", "default": ["uptime", "df -h"]},
  "secret": {"type": "String", "interpolationType": "ENV_VAR", "default": "s3cr3t"},
  "timeout": {"type": "String", "default": "600"}},
 "mainSteps": [`)
	for i := range 20 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `
  {"action": "aws:runShellScript", "name": "step%d",
   "precondition": {"StringEquals": ["platformType", "Linux"]},
   "inputs": {"timeoutSeconds": "{{ timeout }}", "workingDirectory": "/tmp",
    "runCommand": ["echo {{ msg }} %d", "echo \"$SSM_secret\" {{ secret }}", "set -e", "ls -la /var/log | head -n 5"]}}`, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func BenchmarkParseValidateRender20Steps(b *testing.B) {
	content := twentySteps()
	params := map[string][]string{"msg": {"hi there"}, "cmds": {"a", "b"}}
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := documents.Parse(content, "JSON")
		if err != nil {
			b.Fatal(err)
		}
		v, err := d.ResolveParameters(params)
		if err != nil {
			b.Fatal(err)
		}
		rs, err := d.Render(v, nil)
		if err != nil || len(rs) != 20 {
			b.Fatal(err)
		}
	}
}
