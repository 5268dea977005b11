#!/usr/bin/perl
# A plain CGI program for the tests (perl-base only): reads CONTENT_LENGTH
# bytes of request body from stdin and answers with a JSON object naming the
# method, PATH_INFO, QUERY_STRING and how many body bytes arrived.
use strict;
use warnings;

binmode STDIN;
binmode STDOUT;

my $want = $ENV{CONTENT_LENGTH};
$want = 0 unless defined $want && $want =~ /^[0-9]+$/;
my $body = '';
while (length($body) < $want) {
	my $n = read(STDIN, $body, $want - length($body), length($body));
	last unless $n;    # EOF or error: report what arrived
}

sub js {
	my $s = shift;
	$s = '' unless defined $s;
	$s =~ s/(["\\])/\\$1/g;
	$s =~ s/([\x00-\x1f\x7f])/sprintf('\\u%04x', ord $1)/ge;
	return qq("$s");
}

print "Content-Type: application/json\r\n\r\n";
printf qq({"method":%s,"path_info":%s,"query_string":%s,"body_length":%d}\n),
    js($ENV{REQUEST_METHOD}), js($ENV{PATH_INFO}), js($ENV{QUERY_STRING}),
    length($body);
