# LemonLDAP::NG's own portal (Debian's liblemonldap-ng-portal-perl) as one PSGI app on loopback,
# for `plackup`: what its nginx site (/etc/lemonldap-ng/portal-nginx.conf) does, without nginx.
# The portal's static files and Debian's JavaScript libraries (Bootstrap, Font Awesome, jQuery)
# are served from the same directories that site serves them from; everything else is the portal.
# The configuration file comes from $LLNG_DEFAULTCONFFILE (written by sandbox/lemonldap.py).
use strict;
use warnings;
use Plack::Builder;
use Lemonldap::NG::Portal::Main;

my $portal = Lemonldap::NG::Portal::Main->run( {} );

builder {
    enable 'Static',
      path => qr{^/static/},
      root => '/usr/share/lemonldap-ng/portal/htdocs/';
    enable 'Static',
      path => sub { s{^/javascript/}{} },
      root => '/usr/share/javascript/';
    $portal;
};
