<?php
// Served by php-cgi through FcgidWrapper: shows the process and what PHP saw
// of the request.
header('Content-Type: text/plain');
echo "php pid=", getmypid(), "\n";
echo "script=", $_SERVER['SCRIPT_NAME'] ?? '', "\n";
echo "path_info=", $_SERVER['PATH_INFO'] ?? '', "\n";
echo "method=", $_SERVER['REQUEST_METHOD'], "\n";
echo "post=", $_POST['name'] ?? '', "\n";
