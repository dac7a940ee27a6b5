-- A pci_devices table with nova's columns (nova/db/main/models.py PciDevice) and rows as a real
-- nova database holds them: several compute nodes, soft-deleted rows (deleted = id), removed and
-- unavailable devices, claimed/allocated ones, a VF that is no GPU. Valid SQLite and MariaDB.
-- Expected for gpu_pci_ids 0ff2 11bf 13f2:
--   11bf: free 3, in use 2, unavailable 1 (node 1: 2/2/0, node 2: 1/0/1)
--   13f2: free 0, in use 2 (node 2)
--   0ff2: no device
CREATE TABLE pci_devices (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  deleted_at DATETIME NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  id INTEGER NOT NULL PRIMARY KEY,
  compute_node_id INTEGER NOT NULL,
  address VARCHAR(12) NOT NULL,
  product_id VARCHAR(4) NOT NULL,
  vendor_id VARCHAR(4) NOT NULL,
  dev_type VARCHAR(8) NOT NULL,
  dev_id VARCHAR(255) NULL,
  label VARCHAR(255) NOT NULL,
  status VARCHAR(36) NOT NULL,
  extra_info TEXT NULL,
  instance_uuid VARCHAR(36) NULL,
  request_id VARCHAR(36) NULL,
  numa_node INTEGER NULL,
  parent_addr VARCHAR(12) NULL,
  uuid VARCHAR(36) NULL
);
INSERT INTO pci_devices VALUES
 ('2026-01-05 10:00:00', NULL, NULL, 0, 1, 1, '0000:04:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_04_00_0', 'label_10de_11bf', 'available', '{}', NULL, NULL, 0, NULL, 'a0000000-0000-0000-0000-000000000001'),
 ('2026-01-05 10:00:00', NULL, NULL, 0, 2, 1, '0000:05:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_05_00_0', 'label_10de_11bf', 'available', '{}', NULL, NULL, 0, NULL, 'a0000000-0000-0000-0000-000000000002'),
 ('2026-01-05 10:00:00', '2026-01-06 09:00:00', NULL, 0, 3, 1, '0000:84:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_84_00_0', 'label_10de_11bf', 'allocated', '{}', 'b0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001', 1, NULL, 'a0000000-0000-0000-0000-000000000003'),
 ('2026-01-05 10:00:00', '2026-01-06 09:00:00', NULL, 0, 4, 1, '0000:85:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_85_00_0', 'label_10de_11bf', 'claimed', '{}', 'b0000000-0000-0000-0000-000000000002', 'c0000000-0000-0000-0000-000000000002', 1, NULL, 'a0000000-0000-0000-0000-000000000004'),
 ('2026-01-05 10:00:00', '2026-01-07 09:00:00', '2026-01-07 09:00:00', 5, 5, 1, '0000:86:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_86_00_0', 'label_10de_11bf', 'deleted', '{}', NULL, NULL, 1, NULL, 'a0000000-0000-0000-0000-000000000005'),
 ('2026-01-05 10:00:00', NULL, NULL, 0, 6, 2, '0000:04:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_04_00_0', 'label_10de_11bf', 'available', '{}', NULL, NULL, 0, NULL, 'a0000000-0000-0000-0000-000000000006'),
 ('2026-01-05 10:00:00', NULL, NULL, 0, 7, 2, '0000:05:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_05_00_0', 'label_10de_11bf', 'unavailable', '{}', NULL, NULL, 0, NULL, 'a0000000-0000-0000-0000-000000000007'),
 ('2026-01-05 10:00:00', '2026-01-08 09:00:00', NULL, 0, 8, 2, '0000:06:00.0', '11bf', '10de', 'type-PCI', 'pci_0000_06_00_0', 'label_10de_11bf', 'removed', '{}', NULL, NULL, 0, NULL, 'a0000000-0000-0000-0000-000000000008'),
 ('2026-01-05 10:00:00', NULL, NULL, 0, 9, 2, '0000:84:00.0', '13f2', '10de', 'type-PCI', 'pci_0000_84_00_0', 'label_10de_13f2', 'allocated', '{}', 'b0000000-0000-0000-0000-000000000003', 'c0000000-0000-0000-0000-000000000003', 1, NULL, 'a0000000-0000-0000-0000-000000000009'),
 ('2026-01-05 10:00:00', NULL, NULL, 0, 10, 2, '0000:85:00.0', '13f2', '10de', 'type-PCI', 'pci_0000_85_00_0', 'label_10de_13f2', 'allocated', '{}', 'b0000000-0000-0000-0000-000000000003', 'c0000000-0000-0000-0000-000000000003', 1, NULL, 'a0000000-0000-0000-0000-000000000010'),
 ('2026-01-05 10:00:00', NULL, NULL, 0, 11, 2, '0000:81:10.1', '10ed', '8086', 'type-VF', 'pci_0000_81_10_1', 'label_8086_10ed', 'available', '{}', NULL, NULL, 1, '0000:81:00.0', 'a0000000-0000-0000-0000-000000000011'),
 ('2026-01-05 10:00:00', '2026-01-09 09:00:00', '2026-01-09 09:00:00', 12, 12, 3, '0000:04:00.0', '13f2', '10de', 'type-PCI', 'pci_0000_04_00_0', 'label_10de_13f2', 'available', '{}', NULL, NULL, 0, NULL, 'a0000000-0000-0000-0000-000000000012');
