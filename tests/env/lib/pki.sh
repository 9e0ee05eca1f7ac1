# shellcheck shell=bash
# Certificates and keys of one cluster, made with the openssl CLI: a CA, the
# API server's serving certificate, the client certificate of the cert user
# (group system:masters) and the service-account signing key. ECDSA P-256
# keys, because they are generated in milliseconds.

pki_key() { # pki_key FILE
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# pki_sign DIR NAME SUBJECT EXT...: NAME.key + NAME.crt signed by DIR/ca.
pki_sign() {
	local dir=$1 name=$2 subject=$3
	shift 3
	local addext=() ext
	for ext in "$@"; do addext+=(-addext "$ext"); done
	# A chain, not a sequence: run_logged calls this where `set -e` is off.
	pki_key "$dir/$name.key" &&
		openssl req -new -key "$dir/$name.key" -subj "$subject" "${addext[@]}" -out "$dir/$name.csr" &&
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
			-days 3650 -copy_extensions copyall -out "$dir/$name.crt" &&
		rm -f "$dir/$name.csr"
}

# pki_make_cluster NAME DIR LOG: all of one cluster's PKI in DIR.
pki_make_cluster() {
	local name=$1 dir=$2 logfile=$3
	mkdir -p "$dir"
	run_logged "$logfile" pki_key "$dir/ca.key"
	run_logged "$logfile" openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=ferry-env-$name-ca" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$dir/ca.crt"
	run_logged "$logfile" pki_sign "$dir" apiserver "/CN=kube-apiserver" \
		"subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
		"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth"
	run_logged "$logfile" pki_sign "$dir" admin "/O=system:masters/CN=ferry-cert-admin" \
		"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth"
	run_logged "$logfile" pki_key "$dir/sa.key"
	run_logged "$logfile" openssl pkey -in "$dir/sa.key" -pubout -out "$dir/sa.pub"
	chmod 600 "$dir"/*.key
}
