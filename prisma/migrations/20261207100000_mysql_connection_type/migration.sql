-- Connection type mysql (MySQL 5.7/8 and MariaDB 10.x), served by the agent's mysql protocol.
ALTER TYPE "ConnectionType" ADD VALUE IF NOT EXISTS 'mysql';
