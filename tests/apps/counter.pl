#!/usr/bin/perl
# A Perl CGI::Fast app: one counter per process, the process id, and a form field.
use strict;
use warnings;
use CGI::Fast;

my $count = 0;
while (my $q = CGI::Fast->new) {
    print $q->header('text/plain');
    print "perl pid=$$ count=", $count++, " name=", ($q->param('name') // ''), "\n";
}
