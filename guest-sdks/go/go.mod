module plughost.dev/sdk

go 1.24
