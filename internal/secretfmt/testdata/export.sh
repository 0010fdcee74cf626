export API_KEY='example-not-a-secret'
export DB_PASSWORD='it'\''s "quoted" $HOME `x` # y = z'
export cert='-----BEGIN EXAMPLE-----
AAAA
-----END EXAMPLE-----
'
export empty=''
export unicode='héllo ✓'
export yes='yes'
