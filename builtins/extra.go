package builtins

import "go.starlark.net/starlark"

// moreDocs lists builtins of the modules added by later parts (arsenal, horde).
func moreDocs() []Doc { return append(arsenalDocs(), hordeDocs()...) }

// extraModules are predeclared modules not built from Docs.
func extraModules() starlark.StringDict { return nil }
